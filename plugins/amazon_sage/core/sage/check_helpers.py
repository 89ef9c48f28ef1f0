"""Prepare sales orders on helper processes while the import writes to Sage: both sides of it.

Reading and checking orders (:func:`~amazon_sage.core.sage.order_checks.prepare_order`) is
pure Python and costs about as much as writing them to Sage, so with more than one core it
runs on helper processes. Each helper streams the same input file itself and prepares every
``count``-th chunk of ``chunk_size`` orders. The import parses the file too, for the records
it writes to the result files, and pairs each element with its helper's answer, checking the
order id, so an order is never written with another's rows.

Helpers are plain child processes (``python -c``) talking over pipes, not ``multiprocessing``:
Celery's pool processes are daemonic and may not start ``multiprocessing`` children. A helper
ends on its own when the import goes away (its next write fails), so a killed import leaves
no helper behind. Only the import writes to Sage.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Collection, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import amazon_sage
from amazon_sage.core.sage.order_checks import PreparedOrder, prepare_order, record_id
from amazon_sage.core.sage.order_reader import iter_sales_order_elements
from amazon_sage.core.sage.order_rows import CompanyFacts
from amazon_sage.core.xml_files import XmlFileError

# A helper's pipe holds a few chunks (Linux's default is 64 KB, a fraction of one), so a helper keeps working
# while the import is busy in SQL instead of waiting for it to read: 1.4x -> 1.65x on 2 cores.
PIPE_BYTES = 1 << 20
CHUNK_SIZE = 200  # orders per message: large enough that pickling is cheap, small enough to stream


class PreparationWorkerError(RuntimeError):
    """A helper process failed; the orders imported before it stay imported, and a retry is safe."""


@dataclass(frozen=True)
class _Job:
    input_file: Path
    facts: CompanyFacts
    import_statuses: frozenset[str]
    unknown_sku_action: str
    index: int
    count: int
    chunk_size: int


@contextmanager
def order_preparer(input_file: Path, facts: CompanyFacts, import_statuses: Collection[str],
                   unknown_sku_action: str, processes: int) -> Iterator[Callable[[Any], PreparedOrder]]:
    """Yield a function that gives the :class:`PreparedOrder` of a ``SalesOrder`` element.

    Call it with every ``SalesOrder`` element of ``input_file`` in document order, as
    :func:`iter_sales_order_elements` yields them. ``processes`` 0 prepares each in this
    process; otherwise that many helper processes prepare them ahead, and each answer is
    checked to be for the element given.
    """
    if processes < 0:
        raise ValueError(f"processes must be 0 (in this process) or more, not {processes}")
    statuses = frozenset(import_statuses)
    if processes == 0:
        yield lambda element: prepare_order(element, facts, statuses, unknown_sku_action)
        return
    with _HelperPool(input_file, facts, statuses, unknown_sku_action, processes) as helpers:
        yield helpers.prepared
        helpers.finish()


class _HelperProcess:
    """One helper process and its result pipe."""

    def __init__(self, job: _Job, stack: ExitStack):
        read_fd, write_fd = os.pipe()
        if hasattr(fcntl, "F_SETPIPE_SZ"):
            with suppress(OSError):  # above this system's pipe-max-size: the default works, only slower
                fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        self.results: IO[bytes] = stack.enter_context(os.fdopen(read_fd, "rb"))
        self.stderr = stack.enter_context(tempfile.TemporaryFile())  # noqa: SIM115 - the stack closes it
        package_root = str(Path(amazon_sage.__file__).resolve().parents[1])
        path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
        try:
            # argv[2] names the input in `ps`; the job itself goes over stdin.
            self.process = subprocess.Popen(
                [sys.executable, "-c", f"from {__name__} import helper_main; helper_main()", str(write_fd),
                 f"amazon_sage order reader for {job.input_file}"],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.stderr, pass_fds=(write_fd,),
                env={**os.environ, "PYTHONPATH": path})
        finally:
            os.close(write_fd)
        stack.callback(self.stop)
        self.job = job

    def send_job(self) -> None:
        try:
            with self.process.stdin:  # type: ignore[union-attr]
                pickle.dump(self.job, self.process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        except BrokenPipeError:
            pass  # it died at start-up; reading its results says why

    def receive(self) -> tuple[Any, ...]:
        try:
            return pickle.load(self.results)
        except (EOFError, pickle.UnpicklingError) as exc:
            raise self.failure(f"stopped without finishing its orders ({type(exc).__name__})") from None

    def failure(self, what: str) -> PreparationWorkerError:
        try:
            code = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # alive but not making sense: it is stopped, not waited for
            self.stop()
            code = self.process.returncode
        self.stderr.seek(0)
        detail = self.stderr.read().decode("utf-8", "replace").strip()[-2000:]
        return PreparationWorkerError(
            f"The order-reading helper process {self.process.pid} {what}, exit code {code}. Orders imported before "
            f"it stopped stay imported and a retry will not double them; clear the task to retry. "
            f"Its error output: {detail or '(none)'}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


class _HelperPool:
    """Helper processes, read chunk by chunk in document order."""

    def __init__(self, input_file: Path, facts: CompanyFacts, import_statuses: frozenset[str],
                 unknown_sku_action: str, count: int, chunk_size: int = CHUNK_SIZE):
        self.input_file, self.chunk_size = input_file, chunk_size
        self._jobs = [_Job(input_file, facts, import_statuses, unknown_sku_action, index, count, chunk_size)
                      for index in range(count)]
        self._stack = ExitStack()
        self._helpers: list[_HelperProcess] = []
        self._ended: set[int] = set()
        self._position = 0
        self._chunk: deque[PreparedOrder] = deque()

    def __enter__(self) -> _HelperPool:
        try:
            self._helpers = [_HelperProcess(job, self._stack) for job in self._jobs]
            for helper in self._helpers:
                helper.send_job()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stack.close()

    def prepared(self, element: Any) -> PreparedOrder:
        """The helpers' answer for ``element``, the next order of the file."""
        if self._position % self.chunk_size == 0:
            self._chunk = deque(self._next_chunk())
        self._position += 1
        expected = record_id(element)
        if not self._chunk:
            raise self._out_of_step(f"had no order {self._position} ({expected})")
        prepared = self._chunk.popleft()
        if prepared.order_id != expected:
            raise self._out_of_step(f"gave order {prepared.order_id} as order {self._position} ({expected})")
        return prepared

    def finish(self) -> None:
        """After the file's last order: check that every helper ended cleanly with nothing left over."""
        if self._chunk:
            raise self._out_of_step(f"had {len(self._chunk)} orders past the end of the file")
        for index, helper in enumerate(self._helpers):
            if index not in self._ended and self._receive(helper)[0] != "end":
                raise self._out_of_step("had orders past the end of the file")
            if helper.process.wait() != 0:
                raise helper.failure("ended with an error")

    def _next_chunk(self) -> list[PreparedOrder]:
        index = self._position // self.chunk_size % len(self._helpers)
        message = self._receive(self._helpers[index])
        if message[0] == "end":
            self._ended.add(index)
            return []
        return message[1]

    @staticmethod
    def _receive(helper: _HelperProcess) -> tuple[Any, ...]:
        message = helper.receive()
        if message[0] == "failed":
            raise XmlFileError(message[1])
        return message

    def _out_of_step(self, what: str) -> PreparationWorkerError:
        return PreparationWorkerError(f"The order-reading helpers are out of step with {self.input_file}: a "
                                      f"helper {what}. Nothing it prepared was imported from there on; clear the "
                                      "task to retry.")


def helper_main() -> None:
    """A helper process: prepare this helper's chunks of the job read from stdin, pickled to ``argv[1]``.

    Sends ``("orders", [PreparedOrder, ...])`` per chunk, then ``("end",)``; or, when the input
    is not well-formed, any orders of its chunk read so far and ``("failed", message)``.
    """
    results = os.fdopen(int(sys.argv[1]), "wb")
    job: _Job = pickle.load(sys.stdin.buffer)

    def send(*message: Any) -> None:
        pickle.dump(message, results, protocol=pickle.HIGHEST_PROTOCOL)
        results.flush()

    chunk: list[PreparedOrder] = []
    try:
        try:
            for position, element in enumerate(iter_sales_order_elements(job.input_file)):
                if position // job.chunk_size % job.count != job.index:
                    continue
                chunk.append(prepare_order(element, job.facts, job.import_statuses, job.unknown_sku_action))
                if len(chunk) == job.chunk_size:
                    send("orders", chunk)
                    chunk = []
        except XmlFileError as exc:
            if chunk:
                send("orders", chunk)
            send("failed", str(exc))
            return
        if chunk:
            send("orders", chunk)
        send("end")
    except BrokenPipeError:
        os._exit(0)  # the import has gone away: nobody is left to tell
