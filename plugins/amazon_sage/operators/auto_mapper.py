"""Auto Mapper: transform a run file with an XSLT 1.0 mapping (Zynk's Auto Mapper task)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowSkipException

from amazon_sage import settings
from amazon_sage.core.counts import PhaseCounts
from amazon_sage.operators.run_context import push_counts, run_folder_of


class AutoMapperOperator(BaseOperator):
    """Apply ``mapping`` to ``input_file`` with named ``parameters``; write ``output_name`` in the run folder.

    Any stylesheet works, so users can customise mappings; it runs with file and network
    access denied. A broken input or mapping fails the task naming the file and line.
    Returns the output path.
    """

    template_fields: Sequence[str] = ("input_file", "parameters")
    ui_color = "#c6e2ff"

    def __init__(self, *, input_file: str, mapping: str | Path, output_name: str,
                 parameters: dict[str, str] | None = None, skip_without: str | None = None,
                 records: tuple[str, str | tuple[str, ...]] | None = None, **kwargs: Any) -> None:
        """``skip_without``: an element name; when the input has none (zero records), skip the task.
        ``records``: the record element names of input and output. With them the mapping runs in chunks
        of records (for record-wise mappings such as the product's) and the counts go to XCom and the log."""
        super().__init__(**kwargs)
        self.skip_without = skip_without
        self.records = records
        self.input_file = input_file
        self.mapping = mapping
        self.output_name = output_name
        self.parameters = parameters or {}

    def execute(self, context: Any) -> str:
        from amazon_sage.core.xml_files import XmlFileError

        try:
            return self._map(context)
        except XmlFileError as exc:
            raise AirflowException(str(exc)) from None

    def _map(self, context: Any) -> str:
        from amazon_sage.core.mapping.chunked_mapping import apply_mapping_in_chunks
        from amazon_sage.core.mapping.xslt import apply_mapping, has_element

        output = run_folder_of(context) / self.output_name
        if self.skip_without and not has_element(Path(self.input_file), self.skip_without):
            self.log.info("Auto Mapper summary: 0 records in, 0 out (%s has no <%s> records; skipped)",
                          Path(self.input_file).name, self.skip_without)
            raise AirflowSkipException(f"{Path(self.input_file).name} has no <{self.skip_without}> records: "
                                       "nothing to map or send.")
        if self.records:  # record-wise: stream in chunks, so memory stays flat at any size
            mapped = apply_mapping_in_chunks(Path(self.input_file), Path(self.mapping), output, self.parameters,
                                             record=self.records[0], output_records=self.records[1],
                                             threads=settings.get_int("MAPPING_THREADS"))
            read, written = mapped.records_in, mapped.records_out  # counted while mapping: no second parse
            push_counts(context, PhaseCounts(read, written))
            self.log.info("Auto Mapper summary: %d records in, %d out (%s -> %s with %s)", read, written,
                          Path(self.input_file).name, output.name, Path(self.mapping).name)
        else:
            apply_mapping(Path(self.input_file), Path(self.mapping), output, self.parameters)
            self.log.info("Auto Mapper summary: %s -> %s with %s", Path(self.input_file).name, output.name,
                          Path(self.mapping).name)
        return str(output)
