"""Apply a record-wise XSLT mapping a chunk of records at a time, on worker threads, streaming the output.

The calling thread cuts the input into chunks of records and hands them to a pool of threads,
then writes their results back in input order. Parsing from memory, libxslt's transform and
lxml's serialiser all release the GIL, so the threads map chunks on every core, and memory
stays flat: at most two chunks per thread are in flight.

Cutting is done on the bytes where it is safe: the records' end tags are found by a byte
search, and each chunk goes to its thread as text wrapped in copies of the records'
ancestors. The thread parses it and checks that it holds exactly the records cut, side by
side. Anything a byte cut cannot carry (a comment or CDATA holding an end tag, a DOCTYPE, an
encoding other than UTF-8, other elements between records, a file that is not well-formed)
fails that check, and the whole file is mapped again the careful way: streamed through
``iterparse`` on the calling thread, which also reports the exact line of a fault.

Thread safety follows lxml's rules: each thread compiles its own copy of the stylesheet (an
``XSLT`` object's error log is per object, and libxslt is fastest with a stylesheet parsed in
its own thread), and a document built by one thread is only read by the worker and released
by the thread that built it.
"""

from __future__ import annotations

import os
import re
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from lxml import etree

from amazon_sage.core.files import atomic_output
from amazon_sage.core.mapping.xslt import MappingError, describe_error_log, load_mapping, string_parameters
from amazon_sage.core.xml_files import (
    XmlFileError,
    iterparse_xml_file,
    require_file,
    root_tag,
    secure_parser,
)

IN_FLIGHT_PER_THREAD = 2  # chunks queued per thread: enough to keep it busy, few enough to bound memory


def available_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclass
class _MappedChunk:
    """One chunk's result as plain data, so no lxml object crosses back between threads."""

    records: bytes  # the output records, serialised (UTF-8)
    count: int
    container: list[tuple[str, dict[str, str], dict[str | None, str]]]  # the records' ancestors, outermost first
    whole: bytes  # the whole result, for an input whose records map to nothing


@dataclass(frozen=True)
class MappedFile:
    """What :func:`apply_mapping_in_chunks` wrote: the output, and its records in and out."""

    path: Path
    records_in: int  # input records mapped (those at the records' depth)
    records_out: int  # output records written


class _ChunkMapper:
    """Maps one chunk per call, with a stylesheet compiled once per thread."""

    def __init__(self, input_file: Path, mapping: Path, parameters: Mapping[str, str], wanted: tuple[str, ...],
                 record: str):
        self.input_file, self.mapping, self.wanted, self.record = input_file, mapping, wanted, record
        self.parameters = string_parameters(parameters)
        self._local = threading.local()

    def transform(self) -> etree.XSLT:
        if not hasattr(self._local, "transform"):
            self._local.transform = load_mapping(self.mapping)
        return self._local.transform

    def __call__(self, chunk: _ParsedChunk | _CutChunk) -> _MappedChunk:
        source = chunk.document()
        transform = self.transform()
        try:
            result = transform(source, **self.parameters)
        except etree.XSLTApplyError:
            raise MappingError(f"Mapping {self.mapping} failed on {self.input_file}: "
                               f"{describe_error_log(transform.error_log, self.mapping)}") from None
        root = result.getroot()
        if root is None:
            raise MappingError(f"Mapping {self.mapping} produced no XML document from {self.input_file}")
        records = list(root.iter(*self.wanted))
        if not records:
            return _MappedChunk(b"", 0, [], etree.tostring(root, encoding="utf-8"))
        container = [(a.tag, dict(a.attrib), dict(a.nsmap)) for a in reversed(list(records[0].iterancestors()))]
        data = b"".join(etree.tostring(e, encoding="utf-8", with_tail=False) for e in records)
        return _MappedChunk(data, len(records), container, b"")


class _OrderedWriter:
    """Writes mapped chunks to the output, in the order they are given."""

    def __init__(self, raw: Any, xf: Any, stack: ExitStack):
        self.raw, self.xf, self.stack = raw, xf, stack
        self.opened = False
        self.answer_without_records = b""

    def write(self, mapped: _MappedChunk) -> None:
        if not mapped.count:
            if not self.opened:
                self.answer_without_records = mapped.whole
            return
        if not self.opened:
            self.xf.write_declaration()
            for tag, attrib, nsmap in mapped.container:
                self.stack.enter_context(self.xf.element(tag, attrib, nsmap=nsmap or None))
            self.opened = True
        self.xf.flush()  # the container's open tags go out before the records' bytes
        self.raw.write(mapped.records)

    def finish(self) -> None:
        """After the last chunk: no records anywhere gives the mapping's own answer to an input without them."""
        if not self.opened:
            self.xf.write(etree.fromstring(self.answer_without_records, secure_parser()))


def apply_mapping_in_chunks(input_file: Path, mapping: Path, output_file: Path,
                            parameters: Mapping[str, str] | None = None, *, record: str,
                            output_records: str | tuple[str, ...], chunk_size: int = 250,
                            threads: int = 0) -> MappedFile:
    """Apply a record-wise mapping ``chunk_size`` input records at a time on ``threads`` threads.

    For mappings where each output record (``output_records``) depends only on its own input
    record (``record``) and the attributes of its ancestors, as the product's mappings do.
    Memory then stays flat whatever the file's size. The output has the container elements
    of the first result that holds records, then every chunk's records in input order: the
    same document as :func:`amazon_sage.core.mapping.xslt.apply_mapping` gives. An input without
    records gets the mapping's own answer to it. ``threads`` 0 means one per CPU core.
    A mapping that aggregates across records must use ``apply_mapping`` instead.

    An input that is not well-formed is refused, even one cut short between two records (the byte
    cut checks every chunk and what follows the last record), and so is a mapping that gives no
    output record for an input that has records: its records are not where the mapping looks.
    Either way :class:`~amazon_sage.core.xml_files.XmlFileError` says why and no output is left.
    Returns the output's path with the records counted on the way in and out.
    """
    wanted = (output_records,) if isinstance(output_records, str) else tuple(output_records)
    if threads < 0 or chunk_size < 1:
        raise ValueError(f"threads must be 0 (one per core) or more, and chunk_size 1 or more; "
                         f"got threads={threads}, chunk_size={chunk_size}")
    require_file(input_file)
    mapper = _ChunkMapper(input_file, mapping, parameters or {}, wanted, record)
    mapper.transform()  # a broken stylesheet fails here, before any input is read
    threads = threads or available_cores()
    try:
        return _map_chunks(_cut_chunks(input_file, record, chunk_size), mapper, output_file, threads)
    except _CutUnsafe:  # something a byte cut cannot carry: map the whole file again, streamed and parsed
        return _map_chunks(_parsed_chunks(input_file, record, chunk_size), mapper, output_file, threads)


def _map_chunks(chunks: Iterator[_ParsedChunk | _CutChunk], mapper: _ChunkMapper, output_file: Path,
                threads: int) -> MappedFile:
    """Map ``chunks`` on ``threads`` threads and write the results, in order, to ``output_file``."""
    records_in = records_out = 0
    with atomic_output(output_file) as tmp, open(tmp, "wb") as raw, \
            etree.xmlfile(raw, encoding="utf-8") as xf, ExitStack() as stack, \
            ThreadPoolExecutor(threads, thread_name_prefix="auto-mapper") as pool:
        writer = _OrderedWriter(raw, xf, stack)
        in_flight: deque[tuple[Future[_MappedChunk], _ParsedChunk | _CutChunk]] = deque()

        def collect(*, wait: bool) -> None:
            nonlocal records_out
            while in_flight and (wait or in_flight[0][0].done()):
                future, chunk = in_flight.popleft()
                try:
                    mapped = future.result()
                finally:
                    del chunk  # released here, in the thread that built it
                records_out += mapped.count
                writer.write(mapped)

        try:
            for chunk in chunks:
                records_in += chunk.records
                in_flight.append((pool.submit(mapper, chunk), chunk))
                collect(wait=len(in_flight) >= IN_FLIGHT_PER_THREAD * threads)
            collect(wait=True)
            writer.finish()
            if records_in and not records_out:  # inside the output's context: no file is left behind
                raise _dropped_every_record(mapper, records_in)
        except BaseException:
            for future, _ in in_flight:
                future.cancel()
            raise
    return MappedFile(output_file, records_in, records_out)


def _dropped_every_record(mapper: _ChunkMapper, records_in: int) -> MappingError:
    found = root_tag(mapper.input_file)
    expected = " or ".join(f"<{name}>" for name in mapper.wanted)
    return MappingError(
        f"Mapping {mapper.mapping} made no {expected} from the {records_in} <{mapper.record}> records of "
        f"{mapper.input_file} (root element <{found}>): the mapping looks for its records elsewhere. Check that "
        "this is the file the mapping is for, or that a customised mapping still matches the input's elements.")


class _CutUnsafe(Exception):
    """The input holds something a byte cut cannot carry; it must be parsed as a stream instead."""


@dataclass
class _ParsedChunk:
    """Records parsed by the calling thread, inside copies of their ancestors."""

    tree: etree._ElementTree
    records: int

    def document(self) -> etree._ElementTree:
        return self.tree


@dataclass
class _CutChunk:
    """Records cut from the input as bytes, wrapped in their ancestors' tags; parsed by the worker."""

    text: bytes
    records: int  # the end tags the cut found: the document must hold exactly these records
    depth: int  # how deep the records' parent is below the root
    record: str

    def document(self) -> etree._ElementTree:
        """Parse the chunk and check it holds the records cut, side by side, and nothing else."""
        try:
            root = etree.fromstring(self.text, secure_parser())
        except etree.XMLSyntaxError:
            raise _CutUnsafe from None
        container = root
        for _ in range(self.depth):
            container = container[0]
        children = list(container)  # comments and processing instructions count too
        if len(children) != self.records or (container.text or "").strip() or any(
                child.tag != self.record or (child.tail or "").strip() for child in children):
            raise _CutUnsafe
        return root.getroottree()


def _cut_chunks(input_file: Path, record: str, chunk_size: int, block: int = 1 << 22) -> Iterator[_CutChunk]:
    """Chunks of up to ``chunk_size`` records cut from the bytes of ``input_file`` after their end tags.

    Raises :class:`_CutUnsafe` for what a byte cut cannot carry (see the module's docstring);
    the workers' check of each chunk catches the rest.
    """
    start_tag = re.compile(rb"<" + re.escape(record.encode()) + rb"[\s/>]")
    end_tag = f"</{record}>".encode()
    with open(input_file, "rb") as handle:
        buffer = handle.read(block)
        declared = re.match(rb"\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)", buffer)
        if (declared and declared.group(1).lower() not in (b"utf-8", b"utf8")) or \
                buffer.startswith((b"\xff\xfe", b"\xfe\xff")) or b"<!DOCTYPE" in buffer:
            raise _CutUnsafe
        wrapper_open, wrapper_close, depth = _wrapper(input_file, record)
        while not (first := start_tag.search(buffer)):
            if not (more := handle.read(block)):
                raise _CutUnsafe  # no records: the careful way maps the root alone
            buffer = buffer[-len(end_tag):] + more
        start = first.start()  # what precedes the first record is not mapped, as in the careful way
        at_end = False
        while True:
            count, cut = 0, start
            while count < chunk_size and (found := buffer.find(end_tag, cut)) >= 0:
                cut = found + len(end_tag)
                count += 1
            if count < chunk_size and not at_end:
                more = handle.read(block)
                at_end = not more
                buffer, start = buffer[start:] + more, 0
                continue
            if count:
                yield _CutChunk(b"".join((wrapper_open, buffer[start:cut], wrapper_close)), count, depth, record)
                start = cut
            if count < chunk_size:
                break
        if start_tag.search(buffer, start):  # a record without an end tag after the last one: not cut safely
            raise _CutUnsafe
        try:  # what follows the last record must close the records' ancestors, or the file is not whole
            etree.fromstring(wrapper_open + buffer[start:], secure_parser())
        except etree.XMLSyntaxError:
            raise _CutUnsafe from None  # the careful way names the line


def _wrapper(input_file: Path, record: str) -> tuple[bytes, bytes, int]:
    """The open and close tags of the records' ancestors, and the depth of their parent below the root."""
    try:
        for _, element in iterparse_xml_file(input_file, events=("start",), tag=record):
            ancestors = [etree.Element(a.tag, dict(a.attrib), nsmap=dict(a.nsmap))
                         for a in reversed(list(element.iterancestors()))]
            break
        else:
            raise _CutUnsafe  # no records
    except XmlFileError:
        raise _CutUnsafe from None  # the careful way names the line
    if not ancestors:
        raise _CutUnsafe  # the record is the root
    for parent, child in pairwise(ancestors):
        parent.append(child)
    ancestors[-1].append(etree.Comment(_CUT_HERE))
    opening, _, closing = etree.tostring(ancestors[0], encoding="utf-8").partition(f"<!--{_CUT_HERE}-->".encode())
    return opening, closing, len(ancestors) - 1


_CUT_HERE = "records-go-here"


def _parsed_chunks(input_file: Path, record: str, chunk_size: int) -> Iterator[_ParsedChunk]:
    """Documents of up to ``chunk_size`` records each, inside copies of their ancestors (root first).

    Always yields at least one document, so that an input without records still gets mapped.
    """
    path: list[tuple[str, dict[str, str]]] = []  # the records' ancestors, root first
    chunk: list[etree._Element] = []

    def document() -> _ParsedChunk:
        source = container = etree.Element(*(path[0] if path else ("root", {})))
        for tag, attrib in path[1:]:
            container = etree.SubElement(container, tag, attrib)
        records = len(chunk)
        container.extend(chunk)
        chunk.clear()
        return _ParsedChunk(etree.ElementTree(source), records)

    yielded = False
    for _, first in iterparse_xml_file(input_file, events=("start",)):
        path = [(first.tag, dict(first.attrib))]  # the root, in case there are no records
        break
    tags: list[str] | None = None
    for _, element in iterparse_xml_file(input_file, events=("end",), tag=record):
        ancestors = list(element.iterancestors())[::-1]
        if tags is None:
            tags = [a.tag for a in ancestors]
            path = [(a.tag, dict(a.attrib)) for a in ancestors]
        elif [a.tag for a in ancestors] != tags:
            continue  # a same-named element elsewhere in the tree is not a record
        element.getparent().remove(element)  # a finished record leaves the parse tree
        chunk.append(element)
        if len(chunk) >= chunk_size:
            yielded = True
            yield document()
    if chunk or not yielded:
        yield document()
