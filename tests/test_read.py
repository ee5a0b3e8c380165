"""Reading exports: encodings, byte-order marks, delimiters, Excel cells, malformed records."""

from __future__ import annotations

import datetime as dt

import openpyxl
import pandas as pd
import pytest
from conftest import HEADER, csv_bytes, row
from hypothesis import given, settings
from hypothesis import strategies as st

from escalation_analysis.errors import ExportError
from escalation_analysis.ingest.export import load_export
from escalation_analysis.ingest.files import detect_encoding, read_export
from escalation_analysis.ingest.mapping import MappingProfile
from escalation_analysis.ingest.workbooks import Workbook


class TestEncodings:
    def test_cp1252_pound_sign_and_curly_quotes_come_through_intact(self, tmp_path):
        path = tmp_path / "legacy.csv"
        text = "Ref,Description\r\nR1,Taxi fare \u00a312.50 \u2013 \u201cno concerns\u201d, it\u2019s fine\r\n"
        path.write_bytes(text.replace(", it", " it").encode("cp1252"))

        table = read_export(path)

        assert table.encoding == "cp1252"
        assert table.cells.loc[0, "Description"] == (
            "Taxi fare \u00a312.50 \u2013 \u201cno concerns\u201d it\u2019s fine"
        )

    @pytest.mark.parametrize("encoding", ["auto", "cp1252"])
    def test_a_cp1252_export_transcoded_as_it_is_parsed_reads_as_its_utf8_twin(self, tmp_path, monkeypatch, encoding):
        """Windows-1252 is turned into UTF-8 a block at a time while Arrow parses it (a 3.5 GB
        export is never held whole as UTF-8): every block boundary, here every 7 bytes, falls
        somewhere, inside a quoted line break and next to a two- or three-byte character too."""
        from escalation_analysis.ingest import transcoding

        lines = ["Title line \u00a3", "Ref,Team,Description"] + [
            f'R{i},Caf\u00e9 {i % 7},"\u201cline {i}\u201d\r\n\u2013 \u00a3{i}.50, it\u2019s fine"' for i in range(400)]
        text = "\r\n".join(lines) + "\r\n"
        (tmp_path / "cp1252.csv").write_bytes(text.encode("cp1252"))
        (tmp_path / "utf8.csv").write_bytes(text.encode("utf-8"))
        monkeypatch.setattr(transcoding, "_BLOCK", 7)

        legacy = read_export(tmp_path / "cp1252.csv", encoding=encoding, header_row=2)
        twin = read_export(tmp_path / "utf8.csv", header_row=2)

        assert legacy.encoding == "cp1252"
        pd.testing.assert_frame_equal(legacy.cells, twin.cells)
        assert legacy.rows.tolist() == twin.rows.tolist() == list(range(3, 403))
        assert legacy.skipped["text"].tolist() == ["Title line \u00a3"]
        assert legacy.cells.loc[399, "Description"] == "\u201cline 399\u201d\r\n\u2013 \u00a3399.50, it\u2019s fine"

    def test_cp1252_export_is_reported_as_cp1252_in_the_accounting(self, tmp_path, profile):
        path = tmp_path / "legacy.csv"
        path.write_bytes(csv_bytes([row(team="Caf\u00e9 \u00a3 Team \u201cA\u201d")], encoding="cp1252"))

        loaded = load_export(path, profile, key=b"k")

        assert loaded.accounting.encoding == "cp1252"
        assert loaded.episodes.loc[0, "team"] == "Caf\u00e9 \u00a3 Team \u201cA\u201d"
        assert "text encoding: cp1252" in loaded.accounting.statement()

    def test_utf8_bom_is_removed_from_the_first_header(self, tmp_path):
        path = tmp_path / "excel-utf8.csv"
        path.write_bytes(csv_bytes([row()], encoding="utf-8-sig"))

        table = read_export(path)

        assert table.cells.columns[0] == "Ref"
        assert not any("\ufeff" in name for name in table.cells.columns)
        assert table.encoding == "utf-8-sig"
        assert table.cells.loc[0, "Ref"] == "R1"

    def test_utf16_unicode_text_from_excel_is_read(self, tmp_path):
        path = tmp_path / "unicode.txt.csv"
        path.write_bytes(csv_bytes([row(team="\u0141\u00f3d\u017a")], delimiter="\t", encoding="utf-16"))

        table = read_export(path)

        assert table.encoding == "utf-16"
        assert table.cells.loc[0, "Team"] == "\u0141\u00f3d\u017a"

    @pytest.mark.parametrize(
        ("data", "expected"),
        [
            (b"plain ascii", "utf-8"),
            ("caf\u00e9".encode(), "utf-8"),
            (b"\xef\xbb\xbfRef", "utf-8-sig"),
            (b"\xff\xfeR\x00", "utf-16"),
            ("\u00a3 \u201cx\u201d".encode("cp1252"), "cp1252"),
            (b"\x81\x8d\x8f", "latin-1"),  # bytes undefined in Windows-1252
        ],
    )
    def test_detect_encoding(self, data, expected):
        assert detect_encoding(data) == expected

    def test_a_named_encoding_that_does_not_fit_is_an_export_error(self, tmp_path):
        path = tmp_path / "x.csv"
        path.write_bytes("Ref\r\n\u00a3\r\n".encode("cp1252"))

        with pytest.raises(ExportError, match="not valid utf-8 text"):
            read_export(path, encoding="utf-8")


class TestLayout:
    @pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
    def test_delimiter_is_detected_from_the_header(self, tmp_path, delimiter):
        path = tmp_path / "x.csv"
        path.write_bytes(csv_bytes([row(team="A, B")], delimiter=delimiter))

        table = read_export(path)

        assert list(table.cells.columns) == HEADER
        assert table.cells.loc[0, "Team"] == "A, B"

    def test_quoted_cell_with_line_breaks_is_one_record(self, tmp_path):
        path = tmp_path / "x.csv"
        path.write_bytes(b'Ref,Notes\r\nR1,"first line\r\nsecond line"\r\nR2,plain\r\n')

        table = read_export(path)

        assert table.rows_read == 2
        assert table.cells["Ref"].tolist() == ["R1", "R2"]
        assert table.rows.tolist() == [2, 3]
        assert "second line" in table.cells.loc[0, "Notes"]

    @pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
    def test_a_header_cell_with_a_line_break_is_one_column(self, tmp_path, newline):
        path = tmp_path / "x.csv"
        path.write_bytes(b'Ref,"Incident' + newline + b'Date",Time\r\nR1,03/04/2025,10:00\r\nR2,04/04/2025,11:00\r\n')

        table = read_export(path)

        assert list(table.cells.columns) == ["Ref", "Incident\nDate", "Time"]  # any line break reads as \n
        assert table.cells.to_numpy().tolist() == [["R1", "03/04/2025", "10:00"], ["R2", "04/04/2025", "11:00"]]
        assert table.rows.tolist() == [2, 3] and table.malformed.empty

    def test_a_mapping_names_a_header_with_a_line_break_as_one_line(self, tmp_path):
        path = tmp_path / "x.csv"
        path.write_bytes(b'Ref,"Incident\nDate",Time,Category\r\nR1,03/04/2025,10:00,Imminent risk\r\n')
        mapping = {"columns": {"incident_id": "Ref", "risk_identified_at": ["Incident Date", "Time"],
                               "trigger": "Category"}}

        loaded = load_export(path, MappingProfile.model_validate(mapping), key=b"k")

        assert loaded.accounting.rows_analysed == 1
        assert loaded.episodes.loc[0, "risk_identified_at"] == pd.Timestamp("2025-04-03 10:00", tz="Europe/London")

    def test_blank_and_repeated_headers_get_unique_names(self, tmp_path):
        path = tmp_path / "x.csv"
        path.write_bytes(b"Ref,,Ref,Team\r\n1,a,2,b\r\n")

        table = read_export(path)

        assert list(table.cells.columns) == ["Ref", "Column 2", "Ref (2)", "Team"]

    def test_cells_are_trimmed_and_blank_like_values_become_missing(self, tmp_path):
        path = tmp_path / "x.csv"
        path.write_bytes(b"Ref,Team,Notes\r\n  R1 ,NULL, N/A \r\n")

        table = read_export(path, missing_values=("", "NULL", "N/A"))

        assert table.cells.loc[0, "Ref"] == "R1"
        assert pd.isna(table.cells.loc[0, "Team"])
        assert pd.isna(table.cells.loc[0, "Notes"])

    def test_ragged_records_are_counted_as_malformed_with_their_row_numbers(self, tmp_path):
        path = tmp_path / "x.csv"
        path.write_bytes(b"Ref,Team\r\nR1,A\r\nR2,B,extra\r\nR3\r\nR4,D\r\n")

        table = read_export(path)

        assert table.rows_read == 4
        assert table.cells["Ref"].tolist() == ["R1", "R4"]
        assert table.rows.tolist() == [2, 5]
        assert table.malformed["row"].tolist() == [3, 4]
        assert table.malformed["detail"].tolist() == [
            "has 3 cells where the header has 2",
            "has 1 cells where the header has 2",
        ]


class TestExcel:
    def test_real_date_and_time_cells_are_read_as_uk_local_times(self, tmp_path, profile):
        path = tmp_path / "export.xlsx"
        frame = pd.DataFrame(
            {
                "Ref": ["X1", "X2"],
                "Date": [dt.date(2025, 4, 3), dt.date(2025, 12, 1)],  # 3 April, 1 December
                "Time": [dt.time(14, 5), dt.time(0, 30)],
                "Escalated": [dt.datetime(2025, 4, 3, 14, 35), dt.datetime(2025, 12, 1, 1, 0)],
                "Responded": [None, None],
                "Team": ["North", None],
                "Category": ["Imminent risk", "Lost contact"],
                "Result": ["Near Miss", "Incident"],
                "Lone": ["Y", "N"],
                "Contacted": ["Crisis Team; Police", None],
                "NHS Number": [9434765919, None],  # a number cell, as Excel keeps it
                "Staff": ["Sam Patel", "Alex Jones"],
            }
        )
        frame.to_excel(path, index=False, sheet_name="Incidents")

        loaded = load_export(path, profile, key=b"k")
        episodes = loaded.episodes

        assert loaded.accounting.encoding == "xlsx"
        assert loaded.accounting.rows_read == 2 and loaded.accounting.rows_excluded == 0
        london = "Europe/London"
        assert episodes["risk_identified_at"].tolist() == [
            pd.Timestamp("2025-04-03 14:05", tz=london),
            pd.Timestamp("2025-12-01 00:30", tz=london),
        ]
        assert episodes["escalated_at"].tolist() == [
            pd.Timestamp("2025-04-03 14:35", tz=london),
            pd.Timestamp("2025-12-01 01:00", tz=london),
        ]
        assert episodes["trigger"].tolist() == ["imminent_risk", "loss_of_contact"]
        assert episodes["team"].tolist() == ["North", "Not recorded"]
        assert episodes["escalated_to"].iloc[0] == ["crisis_team", "police"]
        assert loaded.accounting.warnings_by_reason() == {"missing_team": 1}

    def test_named_sheet_is_read_and_a_missing_sheet_is_named(self, tmp_path):
        path = tmp_path / "book.xlsx"
        with pd.ExcelWriter(path) as writer:
            pd.DataFrame({"A": [1]}).to_excel(writer, sheet_name="Notes", index=False)
            pd.DataFrame({"Ref": ["R9"]}).to_excel(writer, sheet_name="Incidents", index=False)

        assert read_export(path, sheet="Incidents").cells["Ref"].tolist() == ["R9"]
        with pytest.raises(ExportError, match="no sheet 'Data'"):
            read_export(path, sheet="Data")


def test_a_blank_line_keeps_later_row_numbers_true(tmp_path):
    """A blank line in the middle is a row of its own, so row numbers match the spreadsheet."""
    path = tmp_path / "gappy.csv"
    path.write_bytes(b"a,b,c\n1,2,3\n\n4,5,6\n7,8\n")
    table = read_export(path)
    assert table.rows.tolist() == [2, 3, 4]
    assert table.malformed["row"].tolist() == [5]
    assert table.rows_read == 4


WORKBOOK_CELL = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=12),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.booleans(),
    st.dates(min_value=dt.date(1900, 3, 1), max_value=dt.date(2100, 1, 1)),
    st.times(),
    st.datetimes(min_value=dt.datetime(1900, 3, 1), max_value=dt.datetime(2100, 1, 1)),
    st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=30)),
    st.none(),
)


@settings(max_examples=30)
@given(rows=st.lists(st.lists(WORKBOOK_CELL, min_size=1, max_size=5), min_size=1, max_size=12))
def test_workbook_cells_are_the_text_pandas_calamine_engine_gives(tmp_path_factory, rows):
    """The project reads calamine's cells itself (faster); every cell's text must be pandas' own."""
    path = tmp_path_factory.mktemp("book") / "cells.xlsx"
    book = openpyxl.Workbook()
    for values in rows:
        book.active.append(values)
    book.save(path)

    with Workbook(path) as workbook:
        ours = workbook.cells(workbook.sheet_names[0])
    theirs = pd.read_excel(path, header=None, dtype=str, na_filter=False, engine="calamine")

    assert ours.shape == theirs.shape
    assert ours.fillna("").astype(object).values.tolist() == theirs.fillna("").astype(object).values.tolist()
