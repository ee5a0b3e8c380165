"""Whatever file arrives, the answer is a one-sentence error or a complete row accounting.

Never a traceback, never an internal error (exit code 3): either an
:class:`~escalation_analysis.errors.EscalationAnalysisError` (command line exit code 1 or 2 with
one line saying what to fix) or rows read = rows analysed + rows excluded.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import random
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
from conftest import TEST_KEY
from hypothesis import example, given, settings
from hypothesis import strategies as st
from openpyxl.utils.exceptions import IllegalCharacterError

from escalation_analysis import cli
from escalation_analysis.errors import EscalationAnalysisError
from escalation_analysis.ingest.export import load_export

HEADER = ["Ref", "Date", "Time", "Escalated", "Responded", "Team", "Category", "Result", "Harm",
          "Lone", "Contacted", "Barriers", "Approvals", "NHS", "Staff", "Notes"]
MAPPING_YAML = """\
columns:
  incident_id: Ref
  risk_identified_at: [Date, Time]
  escalated_at: Escalated
  responded_at: Responded
  team: Team
  trigger: Category
  outcome: Result
  harm: Harm
  lone_worker: Lone
  escalated_to: Contacted
  barriers: Barriers
  approvals_before_action: Approvals
  service_user_id: NHS
  staff_id: Staff
  description: Notes
nhs_number: service_user_id
"""
TRICKY = [
    "", " ", "1", "0", "-1", "2.5", "1e308", "inf", "nan", "NaN", "None", "NULL", "N/A", "#N/A", "-",
    "03/04/2025", "30/03/2025", "26/10/2025", "31/02/2025", "12/13/2025", "2025-02-30", "0000-00-00",
    "9999-12-31", "0001-01-01", "2025-04-03T10:00:00+05:00", "2025-04-03T10:00Z",
    "2025-04-03 10:00:00.123456789", "1899-12-30 14:05:00", "45750", "45750.5", "99999", "00000",
    "30/03/2025 01:30", "26/10/2025 01:30", "3 Apr 2025", "01:30", "1:50", "25:99", "24:00",
    "12:00 pm", "1405", "Y", "N", "yes", "imminent risk", "near miss", "Severe harm", "other",
    "Crisis Team; Police", ";", ";;", " ; ", "999 999 9999", "9434765919", "9434765918",
    "\u00a3", "\u201c", "\u2013", "\t", "\x00", '"', "'", "=1+1", "<script>", "\ufeff", "\r", "\n",
]
CELL = st.one_of(st.sampled_from(TRICKY), st.text(max_size=25))
XLSX_CELL = st.one_of(
    CELL,
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.dates(min_value=dt.date(1900, 3, 1), max_value=dt.date(2100, 1, 1)),
    st.times(),
    st.datetimes(min_value=dt.datetime(1900, 3, 1), max_value=dt.datetime(2100, 1, 1)),
    st.none(),
)


def share(fraction: float) -> settings:
    """A fraction of the profile's examples, for the slower properties (at least 3)."""
    return settings(max_examples=max(3, int(settings.default.max_examples * fraction)))


@pytest.fixture
def mapping(tmp_path) -> Path:
    path = tmp_path / "mapping.yaml"
    path.write_text(MAPPING_YAML, encoding="utf-8")
    return path


def check_load(path: Path, mapping: Path):
    """Load, and assert the property: one-sentence error or a complete accounting."""
    try:
        loaded = load_export(path, mapping, key=TEST_KEY)
    except EscalationAnalysisError as error:
        message = str(error)
        assert message and "\n" not in message, message
        assert error.exit_code in (1, 2)
        return None
    accounting = loaded.accounting
    assert accounting.rows_read == accounting.rows_analysed + accounting.rows_excluded
    assert len(loaded.episodes) == accounting.rows_analysed
    assert accounting.rows_excluded == len(accounting.excluded)
    accounting.statement()
    json.dumps(accounting.to_dict())
    return loaded


def check_cli(path: Path, mapping: Path, out: Path) -> int:
    """Run `validate` in-process and assert the same property on its exit code and output."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = cli.main(["validate", str(path), "--mapping", str(mapping), "--json", str(out)])
    assert code in (0, 1, 2), stderr.getvalue()
    assert "Traceback" not in stderr.getvalue()
    if code == 2 or (code == 1 and stderr.getvalue()):
        lines = stderr.getvalue().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("escalation-review: "), stderr.getvalue()
    else:
        data = json.loads(out.read_text(encoding="utf-8"))
        assert data["rows_read"] == data["rows_analysed"] + data["rows_excluded"]
        assert (code == 1) == (data["rows_analysed"] == 0)
    return code


def csv_text(rows: list[list[str]], delimiter: str = ",") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows([HEADER, *rows])
    return buffer.getvalue()


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("incidents.csv", csv_text([["R1"] * len(HEADER)]))
    return buffer.getvalue()


def huge_cell_export(size: int) -> bytes:
    cells = ["R1", "03/04/2025", "10:00", "03/04/2025 10:20", "", "North", "x" * size,
             "Near Miss", "", "Y", "Police", "", "0", "9434765919", "Sam", "y" * size]
    return csv_text([cells]).encode()


FIXED_CASES = {
    "empty.csv": b"",
    "whitespace.csv": b" \r\n\t\r\n",
    "random.csv": random.Random(2025).randbytes(4096),
    "header_only.csv": csv_text([]).encode(),
    "ragged.csv": (csv_text([["R1", "03/04/2025", "10:00"], ["R2"] * (len(HEADER) + 3)])).encode(),
    "nul.csv": csv_text([["R\x001", "03/04/2025", "10:00"] + [""] * 13]).encode(),
    "nul_header.csv": b"Ref\x00,Date\r\n1,2\r\n",
    "unterminated_quote.csv": (",".join(HEADER) + '\r\nR1,"03/04/2025,10:00\r\n').encode(),
    "utf16_no_bom.csv": csv_text([["R1", "03/04/2025", "10:00"] + [""] * 13]).encode("utf-16-le"),
    "text.xlsx": csv_text([["R1"] * len(HEADER)]).encode(),
    "zip.csv": zip_bytes(),
    "zip.xlsx": zip_bytes(),
    "wrong_types.csv": csv_text([["1e308", "45750.5", "0.5", "nan", "-1", "TRUE", "3", "4", "5",
                                  "6", "7", "8", "inf", "12345", "0", "0"]]).encode(),
    "huge_1mb.csv": huge_cell_export(1_000_000),
    "huge_5mb.csv": huge_cell_export(5_000_000),
}


@pytest.mark.parametrize("name", list(FIXED_CASES))
def test_fixed_malformed_exports_load_or_fail_cleanly(tmp_path, mapping, name):
    path = tmp_path / name
    path.write_bytes(FIXED_CASES[name])

    check_load(path, mapping)
    check_cli(path, mapping, tmp_path / "dq.json")


def test_ragged_rows_are_counted_not_lost(tmp_path, mapping):
    path = tmp_path / "ragged.csv"
    path.write_bytes(FIXED_CASES["ragged.csv"])

    loaded = check_load(path, mapping)

    assert loaded.accounting.rows_read == 2
    assert loaded.accounting.excluded_by_reason() == {"malformed_row": 2}


def test_workbook_with_a_number_too_large_for_excel_is_read_and_its_row_accounted_for(tmp_path, mapping):
    book = openpyxl.Workbook()
    book.active.append(HEADER)
    book.active.append(["R1", 1.7976931348623155e308])
    path = tmp_path / "export.xlsx"
    book.save(path)

    loaded = check_load(path, mapping)

    assert loaded.accounting.rows_read == 1
    assert loaded.accounting.excluded_by_reason() == {"unparseable_risk_identified_at": 1}


def test_huge_cells_are_kept_whole(tmp_path, mapping):
    path = tmp_path / "huge.csv"
    path.write_bytes(huge_cell_export(3_000_000))

    loaded = check_load(path, mapping)

    assert loaded.accounting.rows_analysed == 1
    assert len(loaded.episodes.loc[0, "description"]) == 3_000_000
    assert loaded.episodes.loc[0, "trigger"] == "other"


@pytest.mark.parametrize(
    ("name", "expected_code"),
    [("text.xlsx", 2), ("zip.csv", 2), ("header_only.csv", 1)],
)
def test_command_line_in_a_fresh_process(tmp_path, mapping, name, expected_code):
    path = tmp_path / name
    path.write_bytes(FIXED_CASES[name])

    result = subprocess.run(
        [sys.executable, "-m", "escalation_analysis.cli", "validate", str(path), "--mapping", str(mapping)],
        check=False, capture_output=True, text=True, timeout=120,
    )

    assert result.returncode == expected_code
    assert "Traceback" not in result.stderr
    if expected_code == 2:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and name in lines[0]
    else:
        assert "0 rows read" in result.stdout and "Nothing usable remains" in result.stdout


@given(data=st.binary(max_size=3000), suffix=st.sampled_from([".csv", ".xlsx", ".txt"]))
@example(data=b'a"\nb', suffix=".csv")  # a quote in an unquoted header cell, then a line break
@example(data=b'"open\nx\ny', suffix=".csv")  # a header quote that never closes
@example(data=b'Ref,"Incident\nDate",Time\nR1,x,y', suffix=".csv")
def test_random_bytes(tmp_path, mapping, data, suffix):
    path = tmp_path / f"export{suffix}"
    path.write_bytes(data)

    check_load(path, mapping)


@share(0.5)
@given(
    rows=st.lists(st.lists(CELL, min_size=len(HEADER), max_size=len(HEADER)), max_size=12),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]),
    delimiter=st.sampled_from([",", ";", "\t"]),
)
def test_well_formed_exports_with_any_cell_values(tmp_path, mapping, rows, encoding, delimiter):
    path = tmp_path / "export.csv"
    path.write_bytes(csv_text(rows, delimiter).encode(encoding, errors="replace"))

    loaded = check_load(path, mapping)

    if loaded is not None:  # every line is a row read or, only at the end, a footer line set aside
        skipped = loaded.accounting.skipped
        assert loaded.accounting.rows_read + len(skipped) == len(rows)
        assert skipped["row"].tolist() == list(range(len(rows) + 2 - len(skipped), len(rows) + 2))


@share(0.4)
@given(
    rows=st.lists(st.lists(CELL, max_size=len(HEADER) + 3), max_size=10),
    encoding=st.sampled_from(["utf-8", "cp1252", "utf-16"]),
)
def test_ragged_exports_through_the_command_line(tmp_path, mapping, rows, encoding):
    path = tmp_path / "export.csv"
    path.write_bytes(csv_text(rows).encode(encoding, errors="replace"))

    check_cli(path, mapping, tmp_path / "dq.json")


@share(0.5)
@given(
    text=st.text(
        alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=2000
    ),
    encoding=st.sampled_from(["utf-8", "utf-16", "utf-8-sig"]),
)
def test_random_unicode_text(tmp_path, mapping, text, encoding):
    path = tmp_path / "export.csv"
    path.write_bytes((",".join(HEADER) + "\r\n" + text).encode(encoding))

    check_load(path, mapping)


@share(0.3)
@given(rows=st.lists(st.lists(XLSX_CELL, min_size=1, max_size=len(HEADER) + 2), max_size=8),
       header=st.booleans())
@example(rows=[["Ref\nX", "Date"], ["R1", "03/04/2025"]], header=False)  # once found at random: a header cell
def test_workbooks_with_any_cell_types(tmp_path, mapping, rows, header):  # with a line break
    book = openpyxl.Workbook()
    sheet = book.active
    try:
        for values in ([HEADER] if header else []) + rows:
            sheet.append(values)
    except IllegalCharacterError:
        return  # Excel itself cannot hold these characters
    path = tmp_path / "export.xlsx"
    book.save(path)

    check_load(path, mapping)
    check_cli(path, mapping, tmp_path / "dq.json")


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_a_header_cell_with_a_line_break_is_quoted_on_one_line(tmp_path, mapping, suffix):
    path = tmp_path / f"export{suffix}"
    if suffix == ".xlsx":
        book = openpyxl.Workbook()
        book.active.append(["Incident\nRef", "Date"])
        book.active.append(["R1", "03/04/2025"])
        book.save(path)
    else:
        path.write_bytes(b'"Incident\nRef",Date\r\nR1,03/04/2025\r\n')

    with pytest.raises(EscalationAnalysisError) as raised:
        load_export(path, mapping, key=TEST_KEY)

    assert "'Incident\\nRef'" in str(raised.value) and "\n" not in str(raised.value)
    assert check_cli(path, mapping, tmp_path / "dq.json") == 2


@share(0.08)
@given(size=st.integers(1_000_000, 5_000_000), column=st.sampled_from(["Date", "Time", "Category", "NHS"]))
def test_huge_cells_anywhere(tmp_path, mapping, size, column):
    cells = {name: "" for name in HEADER} | {"Ref": "R1", "Date": "03/04/2025", "Time": "10:00",
                                              "Category": "other"}
    cells[column] = ("12" * size)[:size]
    path = tmp_path / "export.csv"
    path.write_bytes(csv_text([list(cells.values())]).encode())

    loaded = check_load(path, mapping)

    assert loaded is not None and loaded.accounting.rows_read == 1



def zip_bomb_workbook(path: Path, unpacked_mb: int) -> None:
    """A valid-looking workbook whose one sheet unpacks to ``unpacked_mb`` megabytes of spaces."""
    book = openpyxl.Workbook()
    book.active.append(HEADER)
    buffer = io.BytesIO()
    book.save(buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as source, \
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bomb:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"<sheetData>", b"<sheetData>" + b" " * (unpacked_mb << 20))
            bomb.writestr(item, data, compress_type=zipfile.ZIP_DEFLATED)


def test_a_workbook_unpacking_beyond_the_limit_is_refused_in_one_sentence_exit_2(tmp_path):
    path = tmp_path / "export.xlsx"
    zip_bomb_workbook(path, 64)
    assert path.stat().st_size < 1 << 20  # a small file on disk
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING_YAML + "max_workbook_mb: 32\n", encoding="utf-8")

    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = cli.main(["validate", str(path), "--mapping", str(mapping)])

    assert code == 2
    assert stderr.getvalue() == (
        "escalation-review: The workbook 'export.xlsx' unpacks to 64 MB, more than the 32 MB allowed; check it is "
        "the right file, or raise 'max_workbook_mb' in the mapping profile.\n"
    )


def test_the_default_workbook_limit_holds_a_full_excel_sheet():
    from escalation_analysis.ingest.mapping import MappingProfile

    default = MappingProfile.model_validate({"columns": {"incident_id": "a", "risk_identified_at": "b",
                                                         "trigger": "c"}}).max_workbook_mb
    workbook = Path(__file__).resolve().parents[1] / "data" / "sample" / "incidents.xlsx"
    with zipfile.ZipFile(workbook) as archive:
        per_row = sum(i.file_size for i in archive.infolist()) / 5000  # the sample's 22 columns
    full_sheet_mb = per_row * 1_048_576 / 2**20
    assert 2 * full_sheet_mb < default < 8 * full_sheet_mb  # room for wider exports, not for a bomb


def test_a_workbook_understating_its_unpacked_size_is_refused_without_unpacking_it(tmp_path):
    """The archive's declared sizes are what the limit checks; the reader holds the file to them."""
    path = tmp_path / "export.xlsx"
    zip_bomb_workbook(path, 64)
    with zipfile.ZipFile(path) as archive:
        real = archive.getinfo("xl/worksheets/sheet1.xml").file_size
    data = path.read_bytes().replace(struct.pack("<I", real), struct.pack("<I", 1000))  # local and central headers
    path.write_bytes(data)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING_YAML + "max_workbook_mb: 32\n", encoding="utf-8")

    with pytest.raises(EscalationAnalysisError, match=r"is not a readable Excel workbook .*declared uncompressed size"):
        load_export(path, mapping, key=TEST_KEY)
