"""Reading input files (CSV, JSONL, Parquet; optionally gzipped) in chunks, with file-level checks.

File-level problems (a missing or 0-byte file, an unknown file type, bytes that are not UTF-8, a file
that does not parse, missing columns) raise ``ImportValidationError`` with row 0 before any row is read
for writing. Values are read as strings (CSV) so that validation sees exactly what the file holds.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from core.errors import ImportValidationError, RowError

CHUNK_ROWS = 200_000
TEXT_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
SUPPORTED = ".csv, .tsv, .jsonl, .ndjson (each optionally .gz) and .parquet"


def file_format(path: Path) -> tuple[str, bool]:
    """Return (format, gzipped) from the file name, or raise a clear error for other types."""
    suffixes = [s.lower() for s in path.suffixes]
    gz = bool(suffixes) and suffixes[-1] == ".gz"
    ext = suffixes[-2] if gz and len(suffixes) >= 2 else (suffixes[-1] if suffixes else "")
    if ext == ".parquet" and not gz:
        return "parquet", False
    if ext in TEXT_FORMATS:
        return TEXT_FORMATS[ext], gz
    raise ImportValidationError(path.name, [RowError(0, "", f"unsupported file type {''.join(suffixes) or '(none)'!r}; "
                                                            f"expected {SUPPORTED}")])


def _file_error(path: Path, message: str) -> ImportValidationError:
    return ImportValidationError(path.name, [RowError(0, "", message)])


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_file(path: str | Path) -> tuple[Path, str, bool]:
    """Existence, size, type and (for text) UTF-8 validity; returns (path, format, gzipped)."""
    path = Path(path)
    if not path.is_file():
        raise _file_error(path, f"no such file: {path}")
    if path.stat().st_size == 0:
        raise _file_error(path, "the file is empty (0 bytes)")
    fmt, gz = file_format(path)
    if fmt == "parquet":
        with open(path, "rb") as f:
            if f.read(4) != b"PAR1":
                raise _file_error(path, "not a Parquet file (missing PAR1 magic bytes); is the extension right?")
        return path, fmt, gz
    opener = gzip.open if gz else open
    try:
        with opener(path, "rb") as f:
            _check_utf8(path, f)
    except (gzip.BadGzipFile, EOFError, OSError) as exc:
        raise _file_error(path, f"not a valid gzip file: {exc}") from None
    return path, fmt, gz


def _check_utf8(path: Path, f) -> None:
    """Stream the bytes through a strict UTF-8 decoder; report the line of the first bad byte."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    line, offset, seen_text = 1, 0, False
    while block := f.read(1 << 20):
        if b"\x00" in block:
            at = line + block[:block.index(b"\x00")].count(b"\n")
            raise _file_error(path, f"binary data (NUL byte) near line {at}; expected a UTF-8 text file")
        try:
            decoder.decode(block)
        except UnicodeDecodeError as exc:
            bad = block[exc.start:exc.start + 1]
            at = line + block[:exc.start].count(b"\n")
            raise _file_error(path, f"not valid UTF-8: byte 0x{bad.hex()} at line {at} "
                                    f"(byte offset {offset + exc.start}); re-save the file as UTF-8") from None
        line += block.count(b"\n")
        offset += len(block)
        seen_text = seen_text or bool(block.strip())
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise _file_error(path, "not valid UTF-8: the file ends inside a multi-byte character") from None
    if not seen_text:
        raise _file_error(path, "the file holds only whitespace")


def iter_chunks(path: str | Path, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Yield DataFrames of at most ``chunk_rows`` rows; the index is the 1-based row number."""
    path, fmt, gz = check_file(path)
    start = 1
    try:
        for chunk in _raw_chunks(path, fmt, gz, chunk_rows):
            chunk.index = pd.RangeIndex(start, start + len(chunk))
            start += len(chunk)
            chunk.columns = [str(c).strip() for c in chunk.columns]
            twice = sorted({c for c in chunk.columns if list(chunk.columns).count(c) > 1})
            if twice:
                raise _file_error(path, f"column{'s' if len(twice) > 1 else ''} {', '.join(map(repr, twice))} "
                                        f"appear{'' if len(twice) > 1 else 's'} more than once (after trimming spaces)")
            yield chunk
    except ImportValidationError:
        raise
    except (pd.errors.ParserError, ValueError, TypeError, json.JSONDecodeError, OSError) as exc:
        # OSError: pyarrow's corrupt Parquet pages ("Corrupt snappy compressed data") and gzip streams
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise _file_error(path, f"could not parse as {fmt}: {first}") from None
    if start == 1:
        raise _file_error(path, "the file has a header but no data rows")


def _raw_chunks(path: Path, fmt: str, gz: bool, chunk_rows: int) -> Iterator[pd.DataFrame]:
    comp = "gzip" if gz else None
    if fmt in ("csv", "tsv"):
        reader = pd.read_csv(path, sep="\t" if fmt == "tsv" else ",", dtype=str, keep_default_na=False,
                             na_values=[], chunksize=chunk_rows, compression=comp, encoding="utf-8",
                             skip_blank_lines=True)
        with reader:
            yield from reader
    elif fmt == "jsonl":
        yield from _jsonl_chunks(path, gz, chunk_rows)
    else:
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises its own ArrowInvalid
            raise _file_error(path, f"could not read Parquet: {exc}") from None
        for batch in pf.iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()


def _jsonl_chunks(path: Path, gz: bool, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """JSONL, one JSON object per (non-blank) line; every line that is not one is a row error with its number."""
    rows: list[dict] = []
    errors: list[RowError] = []
    n = 0
    with (gzip.open(path, "rt", encoding="utf-8") if gz else open(path, encoding="utf-8")) as f:
        for line in f:
            if not line.strip():
                continue
            n += 1
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                errors.append(RowError(n, "", f"not valid JSON ({exc.msg} at column {exc.colno})"))
                continue
            if not isinstance(value, dict):
                kind = {list: "an array", type(None): "null", bool: "true/false", str: "a string"}.get(
                    type(value), "a number")
                errors.append(RowError(n, "", f"each line must be a JSON object; got {kind}: {json.dumps(value)[:40]}"))
                continue
            rows.append(value)
            if len(rows) == chunk_rows and not errors:
                yield pd.DataFrame(rows)
                rows = []
    if errors:
        raise ImportValidationError(path.name, errors)
    if rows:
        yield pd.DataFrame(rows)


def require_columns(file_name: str, columns, required: list[str], one_of: list[str] | None = None) -> None:
    """Raise a file-level error naming every missing column and the columns found."""
    cols = set(columns)
    missing = [c for c in required if c not in cols]
    msgs = []
    if missing:
        msgs.append(f"missing required column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
    if one_of and not cols.intersection(one_of):
        msgs.append(f"needs one of the columns {', '.join(one_of)}")
    if msgs:
        raise ImportValidationError(file_name, [RowError(0, "", "; ".join(msgs) + f" (found: {', '.join(map(str, columns)) or 'none'})")])
