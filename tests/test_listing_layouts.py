"""Listing layouts: title lines, a header lower down, other sheets and footer lines.

The shipped sample is rewritten as a Datix-Web-style listing workbook and as a listing CSV
(``foreign_exports``). Reading them through a profile that names the sheet and the header's row
must give the sample's own accounting (``truth.json``), with every row number that of the
listing itself, and the title and footer lines listed as skipped, never counted as rows.
"""

from __future__ import annotations

import json

import pytest
from foreign_exports import DATIX_WEB_LISTING, LISTING_CSV
from test_cli_validate import run_in_process

from escalation_analysis.errors import MappingError
from escalation_analysis.ingest.export import load_export
from escalation_analysis.ingest.files import read_export
from escalation_analysis.ingest.mapping import MappingProfile

KEY = b"listing-layouts-test-key-0123456789abcdef"
LAYOUTS = {"xlsx": DATIX_WEB_LISTING, "csv": LISTING_CSV}


@pytest.fixture
def plain(sample_csv):
    """The plain export's accounting (the session's one load of the sample CSV)."""
    return sample_csv.accounting


@pytest.fixture
def listings(sample_listings) -> dict:
    """The sample as a listing in each layout of LAYOUTS (written once per run: tests/conftest.py)."""
    return sample_listings


@pytest.mark.parametrize("kind", LAYOUTS)
def test_listing_gives_the_plain_exports_accounting_at_the_listings_own_row_numbers(listings, plain, truth, kind):
    written = listings[kind]
    accounting = load_export(written.path, MappingProfile.model_validate(written.mapping), key=KEY).accounting

    assert (accounting.rows_read, accounting.rows_analysed) == (truth["rows_read"], truth["rows_analysed"])
    assert accounting.excluded_by_reason() == truth["excluded_by_reason"]
    assert accounting.warnings_by_reason() == truth["warnings"]
    offset = written.header_row - 1  # title lines push every record down
    assert (accounting.excluded["row"] - offset).tolist() == plain.excluded["row"].tolist()
    assert (accounting.warnings["row"] - offset).tolist() == plain.warnings["row"].tolist()
    assert accounting.excluded["reason"].tolist() == plain.excluded["reason"].tolist()


@pytest.mark.parametrize("kind", LAYOUTS)
def test_title_and_footer_lines_are_listed_as_skipped_and_not_counted(listings, truth, tmp_path, kind):
    written = listings[kind]
    header_row = written.header_row
    last = header_row + truth["rows_read"]

    code, stdout, _ = run_in_process("validate", written.path, "--mapping", written.mapping_file(tmp_path), "--json",
                                   tmp_path / "dq.json")

    assert code == 0
    assert f"{truth['rows_read']:,} rows read: {truth['rows_analysed']:,} analysed" in stdout
    titles = ", ".join(str(r) for r in range(1, header_row))
    assert f"{header_row - 1} title lines above the header (rows {titles}: 'Crisis escalation incidents" in stdout
    assert (f"3 footer lines after the last record (rows {last + 1}, {last + 2}, {last + 3}: "
            f"'Total records: {truth['rows_read']}'; 'End of report')") in stdout
    quality = json.loads((tmp_path / "dq.json").read_text(encoding="utf-8"))
    assert quality["lines_skipped"] == {"above_header": header_row - 1, "after_last_record": 3}
    assert quality["rows_read"] == truth["rows_read"]


def test_the_statement_names_the_sheet_not_a_text_encoding(listings):
    written = listings["xlsx"]
    accounting = load_export(written.path, MappingProfile.model_validate(written.mapping), key=KEY).accounting

    assert accounting.statement().splitlines()[0] == "Source: datix-web listing export (Excel workbook, sheet 'Listing')."


def test_a_missing_column_names_the_sheets_and_where_the_header_seems_to_be(listings):
    written = listings["xlsx"]
    mapping = {k: v for k, v in written.mapping.items() if k != "header_row"}

    with pytest.raises(MappingError) as raised:
        load_export(written.path, MappingProfile.model_validate(mapping), key=KEY)

    message = str(raised.value)
    assert "\n" not in message
    assert "has no column 'ID' (mapped to incident_id)" in message
    assert "'Criteria', 'Listing'" in message
    assert "it is on row 4, so the header looks to be there: set 'header_row: 4'" in message


def test_a_missing_column_on_the_wrong_sheet_says_which_sheet_and_row_it_is_on(listings):
    written = listings["xlsx"]
    mapping = {k: v for k, v in written.mapping.items() if k not in ("sheet", "header_row")}

    with pytest.raises(MappingError) as raised:
        load_export(written.path, MappingProfile.model_validate(mapping), key=KEY)

    assert str(raised.value) == (
        "The sheet 'Criteria' of 'listing.xlsx' has no column 'ID' (mapped to incident_id) (the workbook's sheets "
        "are 'Criteria', 'Listing'); it is on sheet 'Listing', row 4: set 'sheet: Listing' and 'header_row: 4' "
        "in the mapping profile."
    )


def test_a_column_found_nowhere_lists_the_columns_there_are(listings):
    written = listings["xlsx"]
    mapping = {**written.mapping, "columns": {**written.mapping["columns"], "incident_id": "Reference"}}

    with pytest.raises(MappingError, match=r"has no column 'Reference' .* its columns are 'ID', 'Incident date', 'Time'"):
        load_export(written.path, MappingProfile.model_validate(mapping), key=KEY)


def test_a_blank_row_between_records_counts_but_blank_rows_and_footers_after_the_last_do_not(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(b"Listing\r\nRef,Date,Category\r\nR1,03/04/2025 10:00,x\r\n,,\r\nR2,03/04/2025 11:00,x\r\n"
                     b",,\r\n\r\nTotal records: 2\r\n\r\n")

    table = read_export(path, header_row=2)

    assert table.rows.tolist() == [3, 4, 5]
    assert table.rows_read == 3
    assert table.skipped[["row", "kind"]].values.tolist() == [[1, "title"], [6, "footer"], [7, "footer"],
                                                              [8, "footer"], [9, "footer"]]
    assert table.skipped["text"].tolist() == ["Listing", "", "", "Total records: 2", ""]


def test_a_last_record_with_few_cells_is_a_record_not_a_footer(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(b"Ref,Date,Category\r\nR1,03/04/2025 10:00,x\r\nR2\r\n")

    table = read_export(path)

    assert table.rows_read == 2 and table.skipped.empty
    assert table.malformed["row"].tolist() == [3]


def test_a_header_row_beyond_the_end_is_one_sentence(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(b"Ref,Date,Category\r\nR1,03/04/2025 10:00,x\r\n")

    with pytest.raises(Exception, match=r"has only 2 line\(s\), so line 9 cannot be its header; fix 'header_row'"):
        read_export(path, header_row=9)
