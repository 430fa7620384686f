"""tavm.py — read and write .tavm model files (numpy only; torch optional at call sites).

The format is specified in docs/model-format.md; the C side is core/model_file.h.
For the same content, Writer.to_bytes() produces the same bytes as the C writer
(tav_model_writer_*): metadata sorted by key, tensors in the order added, each
tensor's data (and an s8 tensor's scales) at the next 64-byte boundary.

    from train import tavm
    w = tavm.Writer()
    w.set_i64("dit.dim", 256)
    w.set_strs("tokenizer.vocab", ["<pad>", "<sep>", "press"])
    w.add_tensor("dit.blocks.0.attn.wq", q_int8, dtype="s8", scales=row_scales)
    w.add_tensor("vae.dec.conv0.w", weights_f32)          # dtype from the array
    w.write("model.tavm")                                 # temp file, fsync, rename

    m = tavm.read("model.tavm")                           # verify=False skips SHA-256
    m.meta["dit.dim"]            # -> 256 (int, float, str or list of str)
    t = m.tensors["dit.blocks.0.attn.wq"]                 # t.dtype, t.shape, t.data, t.scales
    m.checksum_hex                                        # cache key, same as C

Command line:
    python3 -m train.tavm info FILE [--no-verify]
"""
import hashlib
import os
import re
import struct
import sys
import tempfile

import numpy as np

MAGIC = b"TAVM\r\n\x1a\n"
FORMAT_VERSION = 1
HEADER_BYTES = 128
ALIGN = 64
WRITER_BYTES = 32
MAX_DIMS = 4
MAX_KEY = 128
MAX_NAME = 255
MAX_META_COUNT = 65535
MAX_META_BYTES = 64 << 20
MAX_TENSORS = 65535
MAX_TABLE_BYTES = 32 << 20
MAX_DIM = 0x7FFFFFFF
MAX_ELEMS = 1 << 40
DIGEST_OFFSET = 96

# Must match core/version.h (tests/py/test_tavm.py checks it).
TOOL_VERSION = "0.1.0"
WRITER = "tav-edge " + TOOL_VERSION

DTYPES = {"f32": 1, "f16": 2, "s8": 3}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
NP_DTYPES = {"f32": np.dtype("<f4"), "f16": np.dtype("<f2"), "s8": np.dtype("i1")}
META_I64, META_F64, META_STR, META_STR_ARRAY = 1, 2, 3, 4

_KEY_RE = re.compile(rb"[A-Za-z0-9._-]{1,128}\Z")
_NAME_RE = re.compile(rb"[\x21-\x7e]{1,255}\Z")


class FormatError(ValueError):
    """The file is not a valid .tavm file; the message names the problem."""


def _align(x):
    return (x + ALIGN - 1) // ALIGN * ALIGN


def _to_numpy(a):
    if hasattr(a, "detach"):  # torch.Tensor without importing torch
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def _check_utf8(s, what):
    if not isinstance(s, str):
        raise TypeError(f"{what}: expected str, got {type(s).__name__}")
    b = s.encode("utf-8")
    if b"\0" in b:
        raise ValueError(f"{what}: contains a NUL character")
    return b


class Tensor:
    """One tensor: data is a numpy array with the tensor's shape (f32, f16 or int8);
    scales (s8 only) is a float32 array of shape[0] per-output-channel scales."""

    def __init__(self, name, dtype, data, scales=None, offset=None):
        self.name, self.dtype, self.data, self.scales, self.offset = name, dtype, data, scales, offset

    @property
    def shape(self):
        return tuple(self.data.shape)

    def dequantize(self):
        """float32 values: s8 rows times their scales; f16/f32 converted."""
        if self.dtype == "s8":
            rows = self.data.shape[0]
            return (self.data.reshape(rows, -1).astype(np.float32) * self.scales[:, None]).reshape(
                self.data.shape)
        return self.data.astype(np.float32)

    def __repr__(self):
        return f"Tensor({self.name!r}, {self.dtype}, {self.shape})"


class Model:
    """A parsed file: meta (dict key -> int/float/str/list), meta_types (key -> type
    code), tensors (dict name -> Tensor, in file order), checksum_hex, verified, writer."""

    def __init__(self):
        self.meta, self.meta_types, self.tensors = {}, {}, {}
        self.checksum_hex, self.verified, self.writer, self.size = "", False, "", 0


# ---------------------------------------------------------------- writing


class Writer:
    """Collects metadata and tensors; to_bytes()/write() serialise them."""

    def __init__(self):
        self._meta = {}  # key -> (type, value)
        self._tensors = []  # (name, dtype, np array C-order, scales or None)
        self._names = set()

    def _add_meta(self, key, typ, value):
        if not isinstance(key, str) or not _KEY_RE.match(key.encode("ascii", "replace")):
            raise ValueError(f"metadata key {key!r}: keys are 1..{MAX_KEY} bytes of [A-Za-z0-9._-]")
        if key in self._meta:
            raise ValueError(f"metadata key {key!r} is already set")
        if len(self._meta) >= MAX_META_COUNT:
            raise ValueError(f"more than {MAX_META_COUNT} metadata keys")
        self._meta[key] = (typ, value)

    def set_i64(self, key, v):
        v = int(v)
        if not -(1 << 63) <= v < (1 << 63):
            raise ValueError(f"metadata {key!r}: {v} does not fit in int64")
        self._add_meta(key, META_I64, v)

    def set_f64(self, key, v):
        self._add_meta(key, META_F64, float(v))

    def set_str(self, key, v):
        _check_utf8(v, f"metadata {key!r}")
        self._add_meta(key, META_STR, v)

    def set_strs(self, key, items):
        items = list(items)
        for i, s in enumerate(items):
            _check_utf8(s, f"metadata {key!r} item {i}")
        self._add_meta(key, META_STR_ARRAY, items)

    def set(self, key, v):
        """Type from the value: bool/int -> i64, float -> f64, str -> string, list -> strings."""
        if isinstance(v, (bool, int, np.integer)):
            self.set_i64(key, int(v))
        elif isinstance(v, (float, np.floating)):
            self.set_f64(key, float(v))
        elif isinstance(v, str):
            self.set_str(key, v)
        else:
            self.set_strs(key, v)

    def add_tensor(self, name, data, dtype=None, scales=None):
        """data: numpy array or torch tensor (1..4 dims). dtype 'f32'/'f16'/'s8' (default from
        the array: float16 -> f16, int8 -> s8, anything else -> f32). s8 needs scales with
        shape[0] floats (per output channel, i.e. per row)."""
        if not isinstance(name, str) or not _NAME_RE.match(name.encode("ascii", "replace")):
            raise ValueError(f"tensor name {name!r}: 1..{MAX_NAME} printable ASCII bytes, no spaces")
        if name in self._names:
            raise ValueError(f"tensor {name!r} is already added")
        if len(self._tensors) >= MAX_TENSORS:
            raise ValueError(f"more than {MAX_TENSORS} tensors")
        a = _to_numpy(data)
        if dtype is None:
            dtype = {np.dtype(np.float16): "f16", np.dtype(np.int8): "s8"}.get(a.dtype, "f32")
        if dtype not in DTYPES:
            raise ValueError(f"tensor {name!r}: dtype {dtype!r} not one of {sorted(DTYPES)}")
        if dtype == "s8" and a.dtype != np.int8:
            raise ValueError(f"tensor {name!r}: s8 data must be an int8 array (quantise first)")
        if not 1 <= a.ndim <= MAX_DIMS or any(not 1 <= d <= MAX_DIM for d in a.shape):
            raise ValueError(f"tensor {name!r}: shape {a.shape} (1..4 dims, each 1..{MAX_DIM})")
        if int(np.prod(a.shape, dtype=np.int64)) > MAX_ELEMS:
            raise ValueError(f"tensor {name!r}: more than 2^40 elements")
        a = np.ascontiguousarray(a, dtype=NP_DTYPES[dtype])
        if (dtype == "s8") != (scales is not None):
            raise ValueError(f"tensor {name!r}: s8 tensors need scales, others must have none")
        if scales is not None:
            scales = np.ascontiguousarray(_to_numpy(scales), dtype="<f4").reshape(-1)
            if scales.shape[0] != a.shape[0]:
                raise ValueError(f"tensor {name!r}: {scales.shape[0]} scales for {a.shape[0]} rows")
        self._tensors.append((name, dtype, a, scales))
        self._names.add(name)

    # -- serialisation

    def _layout(self):
        """Per-tensor (data offset, scale offset) relative to the data section, and its size."""
        pos, offs = 0, []
        for _, dtype, a, scales in self._tensors:
            off = _align(pos)
            pos = off + a.nbytes
            soff = 0
            if dtype == "s8":
                soff = _align(pos)
                pos = soff + 4 * scales.shape[0]
            offs.append((off, soff))
        return offs, pos

    @staticmethod
    def _str(s):
        b = s.encode("utf-8")
        return struct.pack("<I", len(b)) + b + b"\0"

    def _meta_bytes(self):
        out = []
        for key in sorted(self._meta, key=lambda k: k.encode("ascii")):
            typ, v = self._meta[key]
            out.append(self._str(key) + struct.pack("<I", typ))
            if typ == META_I64:
                out.append(struct.pack("<q", v))
            elif typ == META_F64:
                out.append(struct.pack("<d", v))
            elif typ == META_STR:
                out.append(self._str(v))
            else:
                out.append(struct.pack("<I", len(v)))
                out.extend(self._str(s) for s in v)
        return b"".join(out)

    def to_bytes(self):
        meta = self._meta_bytes()
        offs, data_size = self._layout()
        table = []
        for (name, dtype, a, _), (off, soff) in zip(self._tensors, offs):
            shape = list(a.shape) + [0] * (MAX_DIMS - a.ndim)
            table.append(self._str(name) + struct.pack("<II4QQQQ", DTYPES[dtype], a.ndim, *shape,
                                                        off, a.nbytes, soff))
        table = b"".join(table)
        if len(meta) > MAX_META_BYTES or len(table) > MAX_TABLE_BYTES:
            raise ValueError("metadata or tensor table over the format's limits")
        table_end = HEADER_BYTES + len(meta) + len(table)
        data_offset = _align(table_end)
        data = bytearray(data_size)
        for (_, dtype, a, scales), (off, soff) in zip(self._tensors, offs):
            data[off:off + a.nbytes] = a.tobytes()
            if dtype == "s8":
                data[soff:soff + 4 * scales.shape[0]] = scales.tobytes()
        header = MAGIC + struct.pack("<IIIIII QQQQ", FORMAT_VERSION, HEADER_BYTES, 0,
                                     len(self._meta), len(self._tensors), 0, len(meta), len(table),
                                     data_offset, data_size)
        header += WRITER.encode("ascii").ljust(WRITER_BYTES, b"\0")
        assert len(header) == DIGEST_OFFSET
        body = meta + table + b"\0" * (data_offset - table_end) + bytes(data)
        digest = hashlib.sha256(header + body).digest()
        return header + digest + body

    def write(self, path):
        """Writes atomically: a temp file beside path, fsync, rename."""
        blob = self.to_bytes()
        d = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".tmp.", dir=d)
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; a model file is read by every user
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            dfd = os.open(d, os.O_RDONLY)  # make the rename durable
            try:
                os.fsync(dfd)
            except OSError:
                pass
            finally:
                os.close(dfd)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return len(blob)


# ---------------------------------------------------------------- reading


class _Cursor:
    def __init__(self, buf, pos, end, section):
        self.buf, self.pos, self.end, self.section = buf, pos, end, section

    def take(self, n, what):
        if self.end - self.pos < n:
            raise FormatError(f"{what} runs past the end of the {self.section}")
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def u32(self, what):
        return struct.unpack("<I", self.take(4, what))[0]

    def u64(self, what):
        return struct.unpack("<Q", self.take(8, what))[0]

    def string(self, what, maxlen=None, pattern=None):
        n = self.u32(what)
        if maxlen is not None and n > maxlen:
            raise FormatError(f"{what} is longer than the limit ({n} > {maxlen} bytes)")
        b = bytes(self.take(n + 1, what))
        if b[-1] != 0:
            raise FormatError(f"{what} is not followed by its NUL terminator")
        b = b[:-1]
        if pattern is not None and not pattern.match(b):
            raise FormatError(f"{what} has bytes outside its allowed characters")
        if b"\0" in b:
            raise FormatError(f"{what} contains a NUL byte")
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(f"{what} is not valid UTF-8") from None


def _read_header(buf, m):
    size = len(buf)
    if size < 8 or bytes(buf[:8]) != MAGIC:
        raise FormatError("not a .tavm model file (magic bytes do not match)")
    if size < 12:
        raise FormatError(f"file is {size} bytes: truncated inside the header")
    version = struct.unpack_from("<I", buf, 8)[0]
    writer = bytes(buf[64:96]).split(b"\0")[0].decode("ascii", "replace") if size >= 96 else ""
    if version != FORMAT_VERSION:
        raise FormatError(f"model file format version {version}, written by "
                          f"{writer or 'an unknown tool'}; this reader (tavm.py {TOOL_VERSION}) "
                          f"reads format version {FORMAT_VERSION} only")
    if size < HEADER_BYTES:
        raise FormatError(f"file is {size} bytes: truncated inside the {HEADER_BYTES}-byte header")
    (hsize, flags, n_meta, n_tensors, reserved, meta_size, table_size, data_offset,
     data_size) = struct.unpack_from("<IIIII QQQQ", buf, 12)
    if hsize != HEADER_BYTES or flags or reserved:
        raise FormatError(f"header size/flags/reserved fields {hsize}/{flags}/{reserved}")
    wfield = bytes(buf[64:96])
    wn = wfield.find(b"\0")
    if wn <= 0 or any(c < 0x20 or c > 0x7e for c in wfield[:wn]) or any(wfield[wn:]):
        raise FormatError("header writer field (bytes 64..95) is not NUL-padded printable ASCII")
    m.writer = writer
    if n_meta > MAX_META_COUNT or n_tensors > MAX_TENSORS:
        raise FormatError(f"metadata count {n_meta} or tensor count {n_tensors} over the limits")
    if meta_size > MAX_META_BYTES or table_size > MAX_TABLE_BYTES:
        raise FormatError(f"metadata size {meta_size} or table size {table_size} over the limits")
    table_end = HEADER_BYTES + meta_size + table_size
    if table_end > size:
        raise FormatError(f"metadata and tensor table end at byte {table_end}, beyond file size "
                          f"{size} (truncated?)")
    if data_offset != _align(table_end):
        raise FormatError(f"data offset {data_offset}, expected {_align(table_end)}")
    if data_offset > size or data_size != size - data_offset:
        raise FormatError(f"data section of {data_size} bytes at offset {data_offset} does not end "
                          f"at file size {size} (truncated or extra bytes)")
    if any(buf[table_end:data_offset]):
        raise FormatError("padding before the data section is not zero")
    return n_meta, n_tensors, meta_size, table_size, data_offset, data_size


def _read_meta(buf, m, n_meta, meta_size):
    c = _Cursor(buf, HEADER_BYTES, HEADER_BYTES + meta_size, "metadata section")
    prev = None
    for i in range(n_meta):
        key = c.string(f"metadata entry #{i}: key", MAX_KEY, _KEY_RE)
        if prev is not None and key.encode() <= prev.encode():
            raise FormatError(f"metadata entry #{i}: key {key!r} is not after {prev!r} "
                              "(keys must be unique and sorted)")
        prev = key
        what = f"metadata entry #{i} ({key!r})"
        typ = c.u32(what + ": type")
        if typ == META_I64:
            v = struct.unpack("<q", c.take(8, what + ": value"))[0]
        elif typ == META_F64:
            v = struct.unpack("<d", c.take(8, what + ": value"))[0]
        elif typ == META_STR:
            v = c.string(what + ": string value")
        elif typ == META_STR_ARRAY:
            n = c.u32(what + ": array count")
            if n * 5 > c.end - c.pos:
                raise FormatError(f"{what}: {n} strings cannot fit in the metadata section")
            v = [c.string(f"{what}: item {k}") for k in range(n)]
        else:
            raise FormatError(f"{what}: unknown type {typ}")
        m.meta[key], m.meta_types[key] = v, typ
    if c.pos != c.end:
        raise FormatError(f"metadata section has {c.end - c.pos} bytes left after {n_meta} entries")


def _read_table(buf, m, n_tensors, meta_size, table_size, data_offset, data_size):
    start = HEADER_BYTES + meta_size
    c = _Cursor(buf, start, start + table_size, "tensor table")
    regions = []
    for i in range(n_tensors):
        name = c.string(f"tensor #{i}: name", MAX_NAME, _NAME_RE)
        what = f"tensor {name!r} (#{i})"
        dtype, ndim, *shape = struct.unpack("<II4Q", c.take(40, what + ": entry"))
        off, nbytes, soff = struct.unpack("<QQQ", c.take(24, what + ": entry"))
        if dtype not in DTYPE_NAMES:
            raise FormatError(f"{what}: unknown dtype {dtype}")
        if not 1 <= ndim <= MAX_DIMS:
            raise FormatError(f"{what}: {ndim} dims, must be 1..{MAX_DIMS}")
        if any(not 1 <= d <= MAX_DIM for d in shape[:ndim]) or any(shape[ndim:]):
            raise FormatError(f"{what}: bad shape {shape[:ndim]} (unused dims {shape[ndim:]})")
        shape = tuple(shape[:ndim])
        n = 1
        for d in shape:
            n *= d
        if n > MAX_ELEMS:
            raise FormatError(f"{what}: more than 2^40 elements")
        dname = DTYPE_NAMES[dtype]
        want = n * NP_DTYPES[dname].itemsize
        if nbytes != want:
            raise FormatError(f"{what}: data size {nbytes}, but {dname} x {n} elements is {want} bytes")
        if off % ALIGN:
            raise FormatError(f"{what}: data offset {off} is not a multiple of {ALIGN}")
        if off + nbytes > data_size:
            raise FormatError(f"{what}: data end {off + nbytes} beyond data section size {data_size}")
        a = np.frombuffer(buf, dtype=NP_DTYPES[dname], count=n, offset=data_offset + off).reshape(shape)
        regions.append((off, off + nbytes, i, "data"))
        scales = None
        if dname == "s8":
            if soff % ALIGN or soff + 4 * shape[0] > data_size:
                raise FormatError(f"{what}: scale offset {soff} misaligned or beyond the data section")
            scales = np.frombuffer(buf, dtype="<f4", count=shape[0], offset=data_offset + soff)
            regions.append((soff, soff + 4 * shape[0], i, "scales"))
        elif soff:
            raise FormatError(f"{what}: scale offset {soff} on a {dname} tensor (must be 0)")
        if name in m.tensors:
            raise FormatError(f"tensor name {name!r} appears twice")
        m.tensors[name] = Tensor(name, dname, a, scales, data_offset + off)
    if c.pos != c.end:
        raise FormatError(f"tensor table has {c.end - c.pos} bytes left after {n_tensors} entries")
    regions.sort()
    for a, b in zip(regions, regions[1:]):
        if b[0] < a[1]:
            raise FormatError(f"tensor #{b[2]} {b[3]} [{b[0]}, {b[1]}) overlaps tensor #{a[2]} "
                              f"{a[3]} [{a[0]}, {a[1]})")
    last = regions[-1][1] if regions else 0
    if last != data_size:
        raise FormatError(f"data section is {data_size} bytes but its last tensor ends at {last}")


def parse(buf, verify=True):
    """Parses a whole file held in bytes/bytearray/memoryview; raises FormatError.
    Tensor arrays are read-only views into buf."""
    m = Model()
    m.size = len(buf)
    n_meta, n_tensors, meta_size, table_size, data_offset, data_size = _read_header(buf, m)
    _read_meta(buf, m, n_meta, meta_size)
    _read_table(buf, m, n_tensors, meta_size, table_size, data_offset, data_size)
    stored = bytes(buf[DIGEST_OFFSET:HEADER_BYTES])
    m.checksum_hex = stored.hex()
    if verify:
        h = hashlib.sha256()
        h.update(buf[:DIGEST_OFFSET])
        h.update(buf[HEADER_BYTES:])
        if h.digest() != stored:
            raise FormatError(f"checksum mismatch: header says sha256 {m.checksum_hex[:16]}..., "
                              f"contents hash to {h.hexdigest()[:16]}...: the file is corrupted")
        m.verified = True
    return m


def read(path, verify=True):
    """Reads and validates a .tavm file (see parse)."""
    with open(path, "rb") as f:
        return parse(f.read(), verify=verify)


def copy_writer(m):
    """A Writer holding the same content as a parsed Model (rewriting gives the same bytes)."""
    w = Writer()
    for k, v in m.meta.items():
        {META_I64: w.set_i64, META_F64: w.set_f64, META_STR: w.set_str,
         META_STR_ARRAY: w.set_strs}[m.meta_types[k]](k, v)
    for t in m.tensors.values():
        w.add_tensor(t.name, t.data, t.dtype, t.scales)
    return w


def _main(argv):
    if len(argv) < 2 or argv[0] != "info":
        print("usage: python3 -m train.tavm info FILE [--no-verify]", file=sys.stderr)
        return 2
    try:
        m = read(argv[1], verify="--no-verify" not in argv)
    except (OSError, FormatError) as e:
        print(f"tavm: {argv[1]}: {e}", file=sys.stderr)
        return 1
    print(f"written by {m.writer}; sha256 {m.checksum_hex} "
          f"({'verified' if m.verified else 'not verified'})")
    for k, v in m.meta.items():
        print(f"  {k} = {v if not isinstance(v, list) else f'[{len(v)} strings]'}")
    for t in m.tensors.values():
        print(f"  {t.name} {t.dtype} {list(t.shape)}")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
