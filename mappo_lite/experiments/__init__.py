"""Studies the book runs on top of the core library: the ratio game of Figure 1 (:mod:`.ratio`)."""
