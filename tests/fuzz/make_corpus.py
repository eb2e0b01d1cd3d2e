#!/usr/bin/env python3
"""Writes the fuzz harnesses' seed corpora and regression inputs (tests/fuzz/corpus/, tests/fuzz/regressions/).

    tests/fuzz/make_corpus.py [DIR]        (default: the folder of this script)

Seeds are small valid files of each format, built here the way tests/test_data_fixtures.cpp builds its
fixtures (nothing is read from a dataset folder). Regressions are the crafted inputs that once crashed or
misbehaved (issue 15): every harness must answer each with a clear error, and keeps doing so in CI.
Inputs found by fuzzing (scripts/fuzz puts them in build-fuzz/artifacts/) are copied into
regressions/<harness>/ by hand, under a name that says what they broke; this script does not rewrite them.
Standard library only; its own output is deterministic.
"""
import gzip
import json
import os
import struct
import sys
import zlib


def idx(dims, payload):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


def pattern(n):
    return bytes((i * 37 + 11) % 256 for i in range(n))


def npy(descr, shape, payload, fortran=False):
    shape_text = "(%d,)" % shape[0] if len(shape) == 1 else "(" + ", ".join("%d" % s for s in shape) + ")"
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, "True" if fortran else "False", shape_text)
    unpadded = 10 + len(header) + 1
    header += " " * ((64 - unpadded % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload


def mat_element(mi_type, payload):
    pad = (8 - len(payload) % 8) % 8
    return struct.pack("<II", mi_type, len(payload)) + payload + b"\0" * pad


MI_INT8, MI_UINT8, MI_INT32, MI_UINT32, MI_DOUBLE, MI_MATRIX, MI_COMPRESSED = 1, 2, 5, 6, 9, 14, 15
MX_DOUBLE, MX_UINT8 = 6, 9


def mat_matrix(name, array_class, dims, stored_type, data):
    body = mat_element(MI_UINT32, struct.pack("<II", array_class, 0))
    body += mat_element(MI_INT32, b"".join(struct.pack("<i", d) for d in dims))
    body += mat_element(MI_INT8, name.encode())
    body += mat_element(stored_type, data)
    return mat_element(MI_MATRIX, body)


def mat_file(matrices, compressed):
    header = b"MATLAB 5.0 MAT-file, written by collapse's fuzz corpus".ljust(116, b" ")
    header += b"\0" * 8 + struct.pack("<H", 0x0100) + b"IM"
    out = header
    for m in matrices:
        out += struct.pack("<II", MI_COMPRESSED, len(zlib.compress(m))) + zlib.compress(m) if compressed else m
    return out


def svhn(n, compressed, dims=None):
    x = mat_matrix("X", MX_UINT8, dims or [32, 32, 3, n], MI_UINT8, pattern(32 * 32 * 3 * n))
    y = mat_matrix("y", MX_DOUBLE, [n, 1], MI_DOUBLE, b"".join(struct.pack("<d", 1 + i % 10) for i in range(n)))
    return mat_file([x, y], compressed)


def safetensors(entries, metadata=None, raw_header=None):
    header, data = {}, b""
    for name, (dtype, shape, payload) in entries.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    if metadata is not None:
        header["__metadata__"] = metadata
    text = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text.encode() + data


def files():
    floats = b"".join(struct.pack("<f", i / 7) for i in range(12))
    return {
        ("corpus", "idx"): {
            "images.idx": idx([2, 4, 4], pattern(32)),
            "labels.idx": idx([5], bytes([0, 1, 2, 3, 9])),
            "images.idx.gz": gzip.compress(idx([3, 5, 5], pattern(75)), mtime=0),
        },
        ("regressions", "idx"): {
            # dimensions whose product overflows int64 (used to pass the size check after wrapping)
            "overflowing-dimensions.idx": idx([0xFFFFFFFF] * 3, b"\0" * 16),
            # 64 KiB of gzip that inflates to 16 MiB behind a header promising 32 bytes
            "gzip-bomb.idx.gz": gzip.compress(idx([2, 4, 4], pattern(32)) + b"\0" * (16 << 20), mtime=0),
            "truncated-header.idx": bytes([0, 0, 8, 3, 0, 0]),
        },
        ("corpus", "mat"): {
            "svhn-2.mat": svhn(2, compressed=False),
            "svhn-3-compressed.mat": svhn(3, compressed=True),
        },
        ("regressions", "mat"): {
            # issue 15's SIGSEGV: dimensions that overflow a size computation
            "overflowing-dimensions.mat": svhn(1, compressed=False, dims=[2147483647, 2147483647, 3, 2147483647]),
            "overflowing-dimensions-compressed.mat": svhn(1, compressed=True, dims=[65536, 65536, 3, 65536]),
        },
        ("corpus", "npy"): {
            "f4.npy": npy("<f4", [3, 4], floats),
            "f8-fortran.npy": npy("<f8", [2, 3], b"".join(struct.pack("<d", i) for i in range(6)), fortran=True),
            "f2.npy": npy("<f2", [2, 2], struct.pack("<4H", 0x3C00, 0xC000, 0x7C00, 0x0001)),
            "i8.npy": npy("<i8", [3], struct.pack("<3q", 0, 1, 2)),
        },
        ("regressions", "npy"): {
            "huge-shape.npy": npy("<f4", [1 << 40, 1 << 40], floats),
            "fortran-3d-truncated.npy": npy("<f4", [2, 3, 4], floats, fortran=True),
        },
        ("corpus", "safetensors"): {
            "two-tensors.safetensors": safetensors({"w": ("F32", [3, 4], floats[:48]), "b": ("F32", [3], floats[:12])},
                                                   {"format": "pt", "epoch": "3"}),
        },
        ("regressions", "safetensors"): {
            # a huge declared shape used to be allocated before the offsets were checked
            "huge-shape.safetensors": safetensors({}, raw_header='{"w":{"dtype":"F32","shape":[10000000000,'
                                                                  '10000000000],"data_offsets":[0,4]}}') + b"\0" * 4,
            "metadata-not-string.safetensors": safetensors({"w": ("F32", [1], floats[:4])}, {"epoch": 3}),
            "negative-shape.safetensors": safetensors({}, raw_header='{"w":{"dtype":"F32","shape":[-1],'
                                                                     '"data_offsets":[0,4]}}') + b"\0" * 4,
        },
    }


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    for (kind, harness), contents in files().items():
        folder = os.path.join(root, kind, harness)
        os.makedirs(folder, exist_ok=True)
        for name, data in contents.items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)
    print("make_corpus.py: wrote %d files under %s" % (sum(len(c) for c in files().values()), root))


if __name__ == "__main__":
    main()
