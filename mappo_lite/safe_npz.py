"""Reading ``.npz`` game and dataset files without trusting them.

:func:`read_npz` opens the archive with :mod:`zipfile` itself (not :func:`numpy.load`) and, before any array data is
decompressed, checks from the headers:

* the path is a regular file (a directory, a FIFO, a device such as ``/dev/null`` or a socket is named as such and
  never opened; opening a FIFO would block);
* it is a zip archive with at most ``MAX_MEMBERS`` members (a plain ``.npy`` array, or anything else, is refused
  with a message that says what it is);
* every member is an ``.npy`` array of a plain numeric dtype: no pickled objects, no structured, string, bytes,
  datetime or void dtypes (complex and bool are refused later by the caller's ``kinds``, per key);
* the bytes the ``.npy`` headers declare (shape × itemsize) match each member's declared size, and their total,
  times three (see :func:`mappo_lite.limits.file_bytes`), fits the memory limit of :mod:`mappo_lite.limits`. A
  745-byte file declaring a 298 GiB array, or a zip bomb, is refused before a byte is inflated, and the
  decompression of each member is bounded by its declared size (:mod:`zipfile` never returns more).

Every problem raises :class:`~mappo_lite.errors.MappoLiteError` naming the file.
"""

from __future__ import annotations

import math
import os
import stat
import zipfile
from struct import error as struct_error

import numpy as np

from . import limits
from .errors import MappoLiteError

#: Dtype kinds a member may have at all: bool, signed and unsigned integers, floats, complex (the caller decides
#: per key; complex and bool are refused for every game key).
READABLE_KINDS = "biufc"
#: Dtype kinds of real numbers / of integers, the usual ``kinds`` arguments.
REAL = "iuf"
INTEGER = "iu"
#: Archives listing more members than this are refused before their directory is read.
MAX_MEMBERS = 64
_KIND_NAMES = {
    "b": "booleans",
    "c": "complex numbers",
    "U": "text strings",
    "S": "bytes",
    "M": "datetimes",
    "m": "timedeltas",
    "O": "Python objects (a pickle)",
    "V": "raw or structured records",
}


def describe_path(path: str, label: str) -> os.stat_result:
    """``os.stat`` of ``path`` when it is a regular file; otherwise MappoLiteError saying what it is."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise MappoLiteError(f"{label} {path!r} does not exist") from None
    except NotADirectoryError:
        raise MappoLiteError(f"{label} {path!r} does not exist (a parent in the path is not a folder)") from None
    except PermissionError:
        raise MappoLiteError(f"{label} {path!r} cannot be read: permission denied") from None
    except OSError as exc:
        raise MappoLiteError(f"{label} {path!r} cannot be read: {exc.strerror or exc}") from None
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return st
    what = (
        "a directory"
        if stat.S_ISDIR(mode)
        else "a FIFO (named pipe)"
        if stat.S_ISFIFO(mode)
        else "a character device"
        if stat.S_ISCHR(mode)
        else "a block device"
        if stat.S_ISBLK(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "not a regular file"
    )
    if path in ("/dev/null", os.devnull):
        what = "the null device (it reads as empty)"
    raise MappoLiteError(f"{label} {path!r} is {what}, not an .npz file")


def _member_header(fh, name: str):
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(fh)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(fh)
    raise ValueError(f"unsupported .npy format version {version} in member {name!r}")


def _check_member_count(raw, path: str, label: str) -> None:
    """Refuse archives with more than ``MAX_MEMBERS`` entries before :mod:`zipfile` parses their central directory
    (which costs memory per entry: a small file can list millions)."""
    end_record = getattr(zipfile, "_EndRecData", None)
    if end_record is None:
        return
    try:
        rec = end_record(raw)
        raw.seek(0)
    except (OSError, ValueError, struct_error):
        return
    if rec:
        n = rec[getattr(zipfile, "_ECD_ENTRIES_TOTAL", 4)]
        if n > MAX_MEMBERS:
            raise MappoLiteError(
                f"{label} {path!r} has {n} members; an .npz game or dataset file has at most {MAX_MEMBERS} arrays"
            )


def read_npz(path, label: str = "file", kinds: dict | None = None, default_kinds: str = REAL) -> dict:
    """The arrays of an ``.npz`` file as ``{key: ndarray}``, checked as the module docstring says.

    ``kinds`` maps a key to the dtype kinds it may have (e.g. ``{"next_states": "iuf"}``); other keys get
    ``default_kinds`` (real numbers: ints and floats; no bool, no complex)."""
    path = os.fspath(path)
    describe_path(path, label)
    try:  # non-blocking, so that a FIFO swapped in after the check cannot hang the open
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise MappoLiteError(f"{label} {path!r} cannot be read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as raw:
        return _read_open(raw, path, label, kinds, default_kinds)


def _read_open(raw, path: str, label: str, kinds, default_kinds: str) -> dict:
    if not stat.S_ISREG(os.fstat(raw.fileno()).st_mode):
        raise MappoLiteError(f"{label} {path!r} is not a regular file, not an .npz file")
    try:
        magic = raw.read(6)
        raw.seek(0)
    except OSError as exc:
        raise MappoLiteError(f"{label} {path!r} cannot be read: {exc.strerror or exc}") from None
    if magic == b"\x93NUMPY":
        raise MappoLiteError(
            f"cannot read {label} {path!r}: not a valid .npz archive (it is a single .npy array; "
            "an .npz file of named arrays is written by numpy.savez)"
        )
    if not zipfile.is_zipfile(raw):
        what = "empty" if not magic else "not a zip archive"
        raise MappoLiteError(f"cannot read {label} {path!r}: not a valid .npz archive ({what})")
    kinds = dict(kinds or {})
    _check_member_count(raw, path, label)
    try:
        with zipfile.ZipFile(raw) as zf:
            infos = zf.infolist()
            members = []
            seen = set()
            for info in infos:
                if info.is_dir():
                    continue
                if not info.filename.endswith(".npy"):
                    raise MappoLiteError(f"{label} {path!r} has a member {info.filename!r} that is not an .npy array")
                key = info.filename[:-4]
                if key in seen:
                    raise MappoLiteError(f"{label} {path!r} has the key {key!r} twice")
                seen.add(key)
                members.append((key, info))
            declared = sum(info.file_size for _, info in members)
            limits.check_bytes(
                f"reading {label} {path!r} (its arrays declare {limits.format_bytes(declared)})",
                limits.file_bytes(declared),
            )
            headers = {}
            for key, info in members:
                with zf.open(info) as fh:
                    shape, fortran, dtype = _member_header(fh, info.filename)
                    header_len = fh.tell()
                if dtype.hasobject or dtype.kind not in READABLE_KINDS or dtype.names is not None or dtype.subdtype:
                    kind = "O" if dtype.hasobject else dtype.kind
                    raise MappoLiteError(
                        f"{label} {path!r}: {key} holds {_KIND_NAMES.get(kind, str(dtype))} "
                        f"(dtype {dtype}); only arrays of numbers are read"
                    )
                allowed = kinds.get(key, default_kinds)
                if dtype.kind not in allowed:
                    want = "integers" if set(allowed) <= set(INTEGER) else "real numbers (integers or floats)"
                    raise MappoLiteError(
                        f"{label} {path!r}: {key} must hold {want}, got "
                        f"{_KIND_NAMES.get(dtype.kind, 'dtype ' + str(dtype))} (dtype {dtype})"
                    )
                nbytes = math.prod(int(d) for d in shape) * dtype.itemsize
                limits.check_bytes(
                    f"reading {label} {path!r} ({key} declares shape {tuple(shape)}, {limits.format_bytes(nbytes)})",
                    limits.file_bytes(nbytes),
                )
                if info.file_size != header_len + nbytes:
                    raise MappoLiteError(
                        f"cannot read {label} {path!r}: not a valid .npz archive ({key}'s header declares "
                        f"{nbytes} bytes of data, the member holds {info.file_size - header_len})"
                    )
                headers[key] = (info, tuple(int(d) for d in shape), fortran, dtype, header_len, nbytes)
            arrays = {}
            for key, (info, shape, fortran, dtype, header_len, nbytes) in headers.items():
                buf = bytearray(nbytes)
                with zf.open(info) as fh:
                    fh.read(header_len)
                    view = memoryview(buf)
                    got = 0
                    while got < nbytes:
                        n = fh.readinto(view[got:])
                        if not n:
                            break
                        got += n
                    if got != nbytes or fh.read(1):
                        raise ValueError(
                            f"member {info.filename!r} does not hold the {nbytes} bytes its header declares"
                        )
                arr = np.frombuffer(buf, dtype=dtype)
                arrays[key] = arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)
    except MappoLiteError:
        raise
    except (
        OSError,
        ValueError,
        zipfile.BadZipFile,
        EOFError,
        NotImplementedError,
        RuntimeError,
        SyntaxError,
        KeyError,
        TypeError,
    ) as exc:
        raise MappoLiteError(f"cannot read {label} {path!r}: not a valid .npz archive ({exc})") from None
    return arrays
