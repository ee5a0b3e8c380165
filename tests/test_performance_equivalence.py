"""The fast paths give exactly what the straightforward versions give, on awkward inputs.

The loader and the summary work on distinct values, Arrow buffers and sorted orders instead
of row-by-row pandas operations (see benchmarks/). Each test here pits one of those fast
paths against the plain pandas or Python way of computing the same thing.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import hmac
import importlib.util
import io
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TEST_KEY
from hypothesis import example, given
from hypothesis import strategies as st

from escalation_analysis.ingest import datetimes, transcoding
from escalation_analysis.ingest import files as read
from escalation_analysis.ingest.contract import as_text, text_is
from escalation_analysis.ingest.export import load_export
from escalation_analysis.ingest.mapping import DEFAULT_MISSING_VALUES, MappingProfile
from escalation_analysis.ingest.pseudonyms import _keyed_digests, nhs_number_is_valid, pseudonymise
from escalation_analysis.measures import statistics
from escalation_analysis.measures.timeliness import TimelinessTables, compliance_table
from escalation_analysis.synthetic import _write_csv

EQUIVALENCE = Path(__file__).resolve().parent / "fixtures" / "equivalence"
_spec = importlib.util.spec_from_file_location("equivalence_snapshot", EQUIVALENCE / "snapshot.py")
snapshot = importlib.util.module_from_spec(_spec)  # flattening a summary, and refreshing the snapshots
_spec.loader.exec_module(snapshot)

WHITESPACE = [chr(c) for c in range(0x3001) if chr(c).isspace()]


def texts(values) -> pd.Series:
    return pd.Series(list(values), dtype="str")


class TestText:
    @given(st.binary(max_size=40))
    @example(b"")
    @example(b"plain")
    @example("caf\u00e9 \U0001F642".encode())
    @example(b"\xed\xa0\x80")
    @example(b"\xc0\x80")
    @example(b"\xf4\x90\x80\x80")
    @example(b"\xff")
    @example(b"a\xe2\x82")
    @example(b"\xef\xbf\xbe")
    @example(b"\xef\xbb\xbfRef")
    @example("\u00a3".encode("cp1252"))
    def test_utf8_check_agrees_with_strict_decoding(self, data):
        """On awkward bytes (surrogates, overlong forms, truncated sequences, a BOM) and any others."""
        try:
            data.decode("utf-8")
            expected = True
        except UnicodeDecodeError:
            expected = False
        assert read._is_utf8(data) is expected

    @pytest.mark.parametrize("encoding", ["cp1252", "latin-1", "iso-8859-15", "cp1250", "windows-1252"])
    @given(data=st.binary(max_size=300), mostly_ascii=st.booleans())
    def test_single_byte_transcoding_is_the_codecs(self, encoding, data, mostly_ascii):
        if mostly_ascii:  # long ASCII runs between the odd byte, as in a real export
            data = b"Ref,Team\r\n".join(data[i: i + 3] for i in range(0, len(data), 3))
        try:
            expected, where = codecs.decode(data, encoding).encode("utf-8"), None
        except UnicodeDecodeError as exc:
            expected, where = None, exc.start
        try:
            got, at = transcoding.to_utf8(data, encoding), None
        except UnicodeDecodeError as exc:
            got, at = None, exc.start
        assert (got, at) == (expected, where)
        assert transcoding.first_undefined(data, encoding) == where

    def test_single_byte_transcoding_across_blocks(self, monkeypatch):
        monkeypatch.setattr(transcoding, "_BLOCK", 7)
        data = "Imminent risk – suicide/self-harm, £5, “quoted”, naïve\r\n".encode("cp1252") * 5
        assert transcoding.to_utf8(data, "cp1252") == data.decode("cp1252").encode("utf-8")
        assert transcoding.first_undefined(data + b"ok\x81", "cp1252") == len(data) + 2

    def test_only_single_byte_encodings_are_transcoded_in_numpy(self):
        assert all(transcoding.is_single_byte(e) for e in ("cp1252", "Windows-1252", "latin1", "iso-8859-15"))
        assert not any(transcoding.is_single_byte(e) for e in ("utf-8", "utf-16", "shift_jis", "gbk", "no-such"))

    def test_blank_to_missing_is_strip_then_blank_like_values(self):
        rng = random.Random(4)
        pieces = ["", "x", "N/A", "NULL", "-", "caf\u00e9", "a b", *WHITESPACE]
        cells = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 4))) for _ in range(3000)]
        frame = pd.DataFrame({"A": cells, "B": cells[::-1]}, dtype="str")

        fast = read._blank_to_missing(frame, DEFAULT_MISSING_VALUES)

        for name in frame.columns:
            stripped = frame[name].str.strip()
            expected = stripped.where(~stripped.isin(list(DEFAULT_MISSING_VALUES)))
            pd.testing.assert_series_equal(fast[name], expected)

    def test_csv_cells_are_stripped_then_blank_like_values_missing(self, tmp_path):
        """The CSV parser's own missing-value marking plus trimming is the plain definition."""
        rng = random.Random(6)
        pieces = ["", "x", "N/A", "NULL", "-", "None", "caf\u00e9", "a b", " ", "\t", "\u00a0", '"q"', ","]
        columns = [["".join(rng.choice(pieces) for _ in range(rng.randint(0, 3))) for _ in range(3000)] for _ in range(3)]

        def cell(text: str) -> str:
            quoted = rng.random() < 0.5 or any(c in text for c in ',"')
            return '"' + text.replace('"', '""') + '"' if quoted else text

        lines = ["A,B,C"] + [",".join(cell(c[i]) for c in columns) for i in range(3000)]
        path = tmp_path / "export.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")

        cells = read.read_export(path, missing_values=DEFAULT_MISSING_VALUES).cells

        read_rows = len(cells)  # blank rows after the last record are footer lines, not rows
        for name, values in zip("ABC", columns, strict=True):
            stripped = texts(values).str.strip()
            expected = stripped.where(~stripped.isin(list(DEFAULT_MISSING_VALUES)))
            pd.testing.assert_series_equal(cells[name], expected.rename(name).iloc[:read_rows])
            assert expected.iloc[read_rows:].isna().all()

    def test_blank_to_missing_across_blocks_of_a_read(self):
        """A read is many Arrow blocks, some sliced: each block is cleaned like the whole."""
        import pyarrow as pa

        rng = random.Random(5)
        pieces = ["", "x", "N/A", "None", " y ", "--", "caf\u00e9", "\u00a0"]
        cells = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 3))) for _ in range(5000)]
        whole = pa.array(cells, type=pa.large_string())
        blocks = [whole.slice(0, 1000), whole.slice(1000, 1), whole.slice(1001, 0), whole.slice(1001, 3999)]
        blocks.append(pa.array(["NULL", None, " ", "z"], type=pa.large_string()))
        frame = pd.DataFrame({"A": read.text_series(pa.chunked_array(blocks))})

        fast = read._blank_to_missing(frame, DEFAULT_MISSING_VALUES)

        plain = pd.Series([*cells, "NULL", None, " ", "z"], dtype="str").str.strip()
        expected = plain.where(~plain.isin(list(DEFAULT_MISSING_VALUES)))
        pd.testing.assert_series_equal(fast["A"], expected.rename("A"))

    def test_kept_and_taken_rows_are_plain_filters(self):
        values = texts(["a", None, "c", "d", "e"] * 40)
        keep = np.ones(len(values), dtype=bool)
        keep[[0, 7, 8, 150]] = False

        pd.testing.assert_series_equal(read.keep_text_rows(values, keep), values[keep].reset_index(drop=True))
        at = np.array([1, 2, 99, 150, 199])
        pd.testing.assert_series_equal(read.take_text_rows(values, at), values.iloc[at].reset_index(drop=True))

    def test_categories_as_text_are_astype_str(self):
        values = pd.Series(pd.Categorical(["b", None, "a", "b"], categories=["b", "a", "zz"]), name="x")

        pd.testing.assert_series_equal(as_text(values), values.astype("str"))

    @pytest.mark.parametrize("text", ["b", "a", "zz", "missing"])
    def test_a_categorical_compared_with_text_is_its_text_compared(self, text):
        values = pd.Series(pd.Categorical(["b", None, "a", "b"], categories=["b", "a", "zz"]), index=[4, 3, 2, 1])

        assert text_is(values, text).tolist() == (values.astype("str") == text).tolist()
        assert text_is(values, text).index.equals(values.index)

    def test_first_agencies_are_astype_category_of_the_first_of_each_list(self):
        from escalation_analysis.ingest.contract import LIST_DTYPE
        from escalation_analysis.measures.agencies import first_agencies

        lists = pd.Series(pd.array([["b", "a"], [], None, ["c"], ["a"], ["b"]], dtype=LIST_DTYPE))
        rows = np.array([True, True, True, False, True, True])
        plain = pd.Series([v[0] if isinstance(v, list) and v else "none" for v in lists.tolist()], dtype="str")[rows]
        pd.testing.assert_series_equal(first_agencies(lists, rows, index=plain.index, missing="none"),
                                       plain.astype("category"))


class TestDistinctParsing:
    """Parsing distinct cells then spreading them equals parsing every cell on its own."""

    CELLS = ("03/04/2025", "3/4/25", "2025-04-03T09:00:00Z", "45750.5", "TBC", None, "31/02/2025", "1405",
             "2:05 pm", "12:30 am", "14.05", "25:99", "1899-12-30 14:05:00", "3 Apr 2025", "", "03/04/2025 14:05")

    def test_dates_and_times(self):
        cells = texts(list(self.CELLS) * 3)
        one_by_one_dates = pd.concat([datetimes._parse_dates(cells.iloc[[i]], True, None, "Europe/London")
                                      for i in range(len(cells))])
        one_by_one_times = pd.concat([datetimes._parse_times(cells.iloc[[i]]) for i in range(len(cells))])

        pd.testing.assert_series_equal(datetimes.parse_dates(cells), one_by_one_dates, check_dtype=False)
        pd.testing.assert_series_equal(datetimes.parse_times(cells), one_by_one_times)

    def test_localise_resolves_only_the_odd_times_and_agrees_with_resolving_all(self):
        naive = pd.Series(pd.date_range("2025-10-25 23:00", "2025-10-26 03:00", freq="7min").tolist()
                          + pd.date_range("2025-03-30 00:00", "2025-03-30 03:00", freq="11min").tolist() + [pd.NaT])
        not_before = (naive - pd.Timedelta(minutes=45)).dt.tz_localize("UTC")
        result = datetimes.localise(naive, "Europe/London", not_before=not_before)

        first = naive.dt.tz_localize("Europe/London", ambiguous=np.ones(len(naive), bool), nonexistent="NaT")
        second = naive.dt.tz_localize("Europe/London", ambiguous=np.zeros(len(naive), bool), nonexistent="NaT")
        nonexistent = naive.notna() & first.isna()
        ambiguous = naive.notna() & first.notna() & (first != second)
        expected = first.copy()
        expected[nonexistent] = naive[nonexistent].dt.tz_localize(
            "Europe/London", ambiguous="NaT", nonexistent=pd.Timedelta(hours=1))
        use_second = ambiguous & (first < not_before) & (second >= not_before)
        expected[use_second] = second[use_second]

        pd.testing.assert_series_equal(result.instants, expected.astype("datetime64[us, Europe/London]"))
        assert result.nonexistent.tolist() == nonexistent.tolist()
        assert result.ambiguous.tolist() == ambiguous.tolist()


class TestPeople:
    @pytest.mark.parametrize("key", [b"", b"k", b"k" * 64, b"k" * 65, b"\xff" * 200])
    def test_keyed_digests_are_hmac_sha256(self, key):
        messages = ["", "9434765919", "STRASSE", "\u00e9\U0001F642"]
        expected = ["SU-" + hmac.new(key, b"f:" + m.encode(), hashlib.sha256).hexdigest()[:10] for m in messages]

        assert _keyed_digests(key, b"f:", [m.encode() for m in messages], "SU-") == expected

    def test_pseudonyms_normalise_as_pythons_str_methods_do(self):
        values = texts(["943 476 5919", "943\u00a0476\u20035919", "Stra\u00dfe", "STRASSE", "sam-patel", "a\x1cb",
                        "a\x0bb", None, "", "\ufb01sh"])
        normalised = values.str.replace(r"[\s\-]", "", regex=True).str.upper()
        expected = [None if pd.isna(v) else "ST-" + hmac.new(TEST_KEY, b"staff_id:" + v.encode(), hashlib.sha256)
                    .hexdigest()[:10] for v in normalised]

        assert pseudonymise(values, "staff_id", TEST_KEY).tolist() == [e if e else np.nan for e in expected]

    def test_the_gate_looks_for_each_service_user_as_written_and_as_digits_as_pandas_finds_them(self):
        from escalation_analysis.ingest.identifiers import MIN_LENGTH, SERVICE_USER, IdentifierValues

        values = texts(["943 476 5919", " 943\u00a0476\u20035919 ", "943-476-5919", "a\x1cbcdefg", "a\x0bbcdefg",
                        None, "", "12 3", "Stra\u00dfe 12", "943 476 5919"])
        people = pd.Series(pd.unique(values.dropna()), dtype="str").str.strip()
        both = pd.concat([people, people.str.replace(r"[\s\-]", "", regex=True)])
        expected = set(both[both.str.len() >= MIN_LENGTH[SERVICE_USER]])

        found = IdentifierValues(service_user_ids=values).of(SERVICE_USER).to_pylist()
        assert len(found) == len(set(found)) and set(found) == expected

    def test_nhs_numbers_checked_as_strings_of_ten_digits(self):
        rng = random.Random(9)
        values = ["".join(rng.choice("0123456789 -x") for _ in range(rng.randint(0, 13))) for _ in range(4000)]
        values += ["9434765919", "943 476 5919", "9434765918", "0000000604", "", None]

        def reference(value):
            if value is None:
                return True
            digits = value.replace(" ", "").replace("-", "")
            if digits == "":
                return True
            if len(digits) != 10 or not digits.isdigit():
                return False
            check = (11 - sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True)) % 11) % 11
            return check != 10 and check == int(digits[9])

        assert nhs_number_is_valid(texts(values)).tolist() == [reference(v) for v in values]


class TestLoading:
    HEADER = "Ref,Date,Cat,Team,Note\r\n"

    def load(self, tmp_path, body: str):
        path = tmp_path / "x.csv"
        path.write_bytes((self.HEADER + body).encode())
        profile = {"columns": {"incident_id": "Ref", "risk_identified_at": "Date", "trigger": "Cat", "team": "Team"}}
        return load_export(path, MappingProfile.model_validate(profile), key=TEST_KEY)

    def test_duplicates_compare_every_cell_after_trimming_and_blanks(self, tmp_path):
        body = (
            "A,03/04/2025 10:00,other,T,one\r\n"
            "A,03/04/2025 10:00,other,T,two\r\n"       # differs in the last column only: kept
            " A ,03/04/2025 10:00, other,T,one\r\n"    # equal once trimmed: a duplicate of row 2
            "B,03/04/2025 10:00,other,,N/A\r\n"
            "B,03/04/2025 10:00,other,NULL,\r\n"       # blanks equal blanks: a duplicate of row 5
        )
        loaded = self.load(tmp_path, body)

        excluded = loaded.accounting.excluded
        assert excluded[["row", "reason", "detail"]].values.tolist() == [
            [4, "duplicate_row", "same as row 2"], [6, "duplicate_row", "same as row 5"]]
        assert loaded.accounting.warnings_by_reason() == {"repeated_incident_id": 2, "missing_team": 1}

    def test_duplicates_found_when_the_first_column_says_nothing(self, tmp_path):
        rows = [f"R,03/04/2025 10:00,other,T,{i % 7}\r\n" for i in range(30)]
        loaded = self.load(tmp_path, "".join(rows))

        excluded = loaded.accounting.excluded
        assert len(excluded) == 23
        assert excluded["detail"].str.removeprefix("same as row ").astype(int).tolist() == [
            2 + i % 7 for i in range(7, 30)]


class TestTimelinessTables:
    def frame(self, n: int, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        delay = rng.integers(0, 50, n).astype(float) + rng.choice([0.0, 0.25, 0.5], n)
        escalated = rng.random(n) < 0.9
        delay[~escalated] = np.nan
        return pd.DataFrame({
            "team": pd.Series(rng.choice(["N", "S", "E", "Ze", None], n), dtype="str"),
            "band": pd.Categorical(rng.choice(["out_of_hours", "in_hours"], n), categories=["out_of_hours", "in_hours"]),
            "escalated": escalated,
            "within_target": escalated & (rng.random(n) < 0.6),
            "delay_minutes": delay,
        })

    @pytest.mark.parametrize(("n", "seed"), [(1, 1), (2, 2), (7, 3), (500, 4), (20_000, 5)])
    def test_counts_and_quantiles_are_a_groupby(self, n, seed):
        frame = self.frame(n, seed)
        tables = TimelinessTables(frame)
        for by in ("team", "band"):
            table = tables.table(by).set_index(by)
            keys = as_text(frame[by])
            grouped = frame.groupby(keys, dropna=False, sort=True)
            expected = grouped["delay_minutes"].quantile([0.5, 0.9]).unstack()
            assert table.index.tolist() == grouped.size().index.tolist()
            assert table["n"].tolist() == grouped.size().tolist()
            assert table["within_target"].tolist() == grouped["within_target"].sum().tolist()
            for q, column in ((0.5, "median_delay_minutes"), (0.9, "p90_delay_minutes")):
                np.testing.assert_array_equal(table[column].to_numpy(), expected.reindex(table.index)[q].to_numpy())
        pd.testing.assert_frame_equal(tables.table(), compliance_table(frame))


    @pytest.mark.parametrize(("n", "seed"), [(1, 1), (9, 2), (500, 3), (20_000, 4)])
    def test_agency_table_is_the_exploded_groupby(self, n, seed):
        """Each (episode, agency) entry, put in delay order by position, gives the table of the
        exploded lists (missing and empty lists, repeated agencies, missing delays)."""
        import pyarrow as pa

        from escalation_analysis.measures.timeliness import _grouped_table

        frame = self.frame(n, seed)
        rng = np.random.default_rng(seed)
        agencies = ["police", "gp", "crisis_team", None]
        frame["escalated_to"] = pd.Series(pd.array(
            [None if r < 0.1 else [] if r < 0.2 else [agencies[k] for k in rng.integers(0, 4, rng.integers(1, 4))]
             for r in rng.random(n)], dtype=pd.ArrowDtype(pa.list_(pa.string()))))
        pd.testing.assert_frame_equal(TimelinessTables(frame).table("escalated_to"), _grouped_table(frame, ["escalated_to"]))


class TestSurvival:
    @pytest.mark.parametrize("seed", [1, 2, 3])
    def test_event_table_is_a_groupby_on_group_and_time(self, seed):
        rng = np.random.default_rng(seed)
        n = 400
        frame = pd.DataFrame({"group": pd.Series(rng.choice(["a", "b", "c"], n), dtype="str"),
                              "time": rng.integers(0, 30, n).astype(float), "observed": rng.random(n) < 0.7})
        table = statistics._event_table(frame)

        counts = frame.groupby(["group", "time"])["observed"].agg(["size", "sum"]).reset_index()
        merged = table.merge(counts, on=["group", "time"], how="left").fillna({"size": 0, "sum": 0})
        assert (merged["removed"] == merged["size"]).all() and (merged["events"] == merged["sum"]).all()
        for group, part in table.groupby("group"):
            times = frame.loc[frame["group"] == group, "time"]
            assert part["time"].iloc[0] == 0.0
            assert part["at_risk"].tolist() == [int((times >= t).sum()) for t in part["time"]]

    def test_logrank_counts_are_the_sorted_search_ones(self):
        rng = np.random.default_rng(7)
        time = rng.integers(0, 40, 300).astype(float)
        observed = rng.random(300) < 0.8
        in_b = rng.random(300) < 0.4
        _, _, observed_b, expected_b = statistics._logrank(time, observed, in_b)

        event_times = np.unique(time[observed])
        at_risk = np.array([(time >= t).sum() for t in event_times], dtype=float)
        at_risk_b = np.array([(time[in_b] >= t).sum() for t in event_times], dtype=float)
        events = np.array([((time == t) & observed).sum() for t in event_times], dtype=float)
        assert observed_b == ((in_b & observed).sum())
        assert expected_b == pytest.approx(np.sum(events * at_risk_b / at_risk), rel=1e-12)


class TestTests:
    """The hand-written test arithmetic agrees with scipy.stats, which reports no longer import."""

    @given(
        st.lists(st.integers(0, 30), min_size=1, max_size=60),
        st.lists(st.integers(0, 30), min_size=1, max_size=60),
        st.sampled_from([1.0, 0.5, 7.25]),
    )
    def test_mann_whitney_u_is_scipys(self, a, b, scale):
        from scipy import stats

        a, b = np.array(a) * scale, np.array(b) * scale
        statistic, p_value = statistics.mann_whitney_u(a, b)
        reference = stats.mannwhitneyu(a, b, alternative="two-sided", method="auto")
        assert statistic == pytest.approx(reference.statistic, rel=1e-12)
        np.testing.assert_allclose(p_value, reference.pvalue, rtol=1e-9, atol=1e-15)

    def test_mann_whitney_u_on_a_million_delays_is_scipys(self):
        from scipy import stats

        rng = np.random.default_rng(3)
        a, b = rng.lognormal(3, 1, 600_000).round(), rng.lognormal(3.05, 1, 400_000).round()
        statistic, p_value = statistics.mann_whitney_u(a, b)
        reference = stats.mannwhitneyu(a, b, alternative="two-sided")
        assert statistic == pytest.approx(reference.statistic, rel=1e-12)
        assert p_value == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-300)

    @given(st.lists(st.integers(0, 40), min_size=4, max_size=4))
    def test_chi_square_without_correction_is_scipys(self, cells):
        from scipy import stats

        table = np.array(cells, dtype=float).reshape(2, 2) + 5  # expected counts of 5 or more
        name, statistic, p_value = statistics._proportion_test(table)
        if name.startswith("chi-square"):
            reference, reference_p, _, _ = stats.chi2_contingency(table, correction=False)
            assert statistic == pytest.approx(reference, rel=1e-9, abs=1e-12)
            assert p_value == pytest.approx(reference_p, rel=1e-9)

    def test_report_modules_do_not_import_scipy_stats(self):
        """scipy.stats costs about a second per report kernel; the reports' imports avoid it."""
        import subprocess
        import sys

        code = (
            "import sys\n"
            "from escalation_analysis.measures import analysis, near_misses as near_miss, trends\nfrom escalation_analysis.reviews import charts, display, kpis, narrative, summary\n"
            "print('scipy.stats' in sys.modules)"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert result.stdout.strip() == "False"


def test_fast_csv_writer_writes_what_pandas_writes(tmp_path):
    rng = random.Random(3)
    alphabet = ["a", ",", '"', "\r", "\n", " ", "\u00e9", "\u2013", "\U0001F642", "=", ";"]
    values = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))) for _ in range(2000)]
    frame = pd.DataFrame({"A": values, "B,x": values[::-1], "C": ["plain"] * len(values)}, dtype="str")
    frame.loc[5, "A"] = np.nan

    frame.to_csv(tmp_path / "pandas.csv", index=False, encoding="utf-8-sig", lineterminator="\r\n")
    _write_csv(frame, tmp_path / "fast.csv", rows_per_block=333)

    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()
    rows = list(csv.reader(io.StringIO((tmp_path / "fast.csv").read_text("utf-8-sig"), newline="")))
    assert len(rows) == len(values) + 1



@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_long_tables_are_written_as_pandas_writes_them(tmp_path, ending):
    """A summary's long tables (excluded rows) go through the Arrow writer: the same bytes."""
    from escalation_analysis.csv_writer import write_csv
    from escalation_analysis.reviews.summary import safe_csv_frame

    rng = random.Random(7)
    alphabet = ["a", "1", ",", '"', "\r", "\n", " ", "\t", "=", "-", "@", "'", "\u00e9", "\U0001F642"]
    values = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 5))) for _ in range(3000)]
    frame = pd.DataFrame({
        "row": np.arange(2, 3002, dtype=np.int64) * rng.choice([1, -1]),
        "incident_id": pd.Series(values, dtype="str"),
        "reason": pd.Series(["outside_period", None, "duplicate, kept first"] * 1000, dtype="str"),
        "detail": pd.Series([v if i % 7 else None for i, v in enumerate(values[::-1])], dtype=object),
        "a,\"header\"": "x",
    })
    frame.loc[3, "incident_id"] = np.nan
    frame = safe_csv_frame(frame)  # (as the summary writes them: formulas made text, some columns object)
    frame.to_csv(tmp_path / "pandas.csv", index=False, encoding="utf-8", lineterminator=ending)
    write_csv(frame, tmp_path / "arrow.csv", lineterminator=ending, rows_per_block=777)
    assert (tmp_path / "arrow.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()
    floats = frame.assign(share=0.1)  # (a column of another kind: pandas writes it all)
    floats.to_csv(tmp_path / "pandas-floats.csv", index=False, lineterminator=ending)
    write_csv(floats, tmp_path / "floats.csv", lineterminator=ending)
    assert (tmp_path / "floats.csv").read_bytes() == (tmp_path / "pandas-floats.csv").read_bytes()

class TestAgencies:
    @pytest.mark.parametrize("agencies", [
        pd.Series(["Police", None, "Crisis team", "Police", "not recorded"], dtype="category"),
        pd.Series(["Police", None, "Ambulance", "Zeta"], dtype="str"),
        pd.Series([None, None], dtype="category"),
    ])
    def test_agencies_are_read_as_text_over_the_named_and_seen_ones(self, agencies):
        from escalation_analysis.measures.agencies import _agencies_as

        named = {"Police", "Crisis team", "Social care"}
        seen = set(agencies.dropna().astype("str").unique())
        expected = pd.Categorical(agencies.astype("str").where(agencies.notna()), categories=sorted(named | seen))
        got = _agencies_as(agencies, named)
        assert list(got.categories) == list(expected.categories)
        assert np.array_equal(got.codes, expected.codes)


class TestChartArithmetic:
    """SPC charts work on numpy arrays per chart; these pin them to the pandas groupby they replaced."""

    floats = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9) | st.sampled_from(
        [0.1, 1e16, -1e16, 0.3, 2.5, np.nan]
    )

    @given(st.lists(st.tuples(st.integers(0, 3), floats), max_size=40))
    @example([(0, 0.1), (0, 1e16), (0, 0.1), (0, -1e16), (0, 0.3)])
    @example([(0, 0.1), (0, 1e16), (0, 0.1), (0, -1e16), (0, np.nan)])
    def test_period_sums_and_means_are_pandas_to_the_last_bit(self, points):
        """pandas sums sorted groups pairwise, or with Kahan compensation when values are missing."""
        from escalation_analysis.measures.spc import _period_mean, _period_totals

        points = sorted(points, key=lambda p: p[0])  # rebase groups count up along the chart
        group = np.array([g for g, _ in points], dtype=int)
        values = np.array([v for _, v in points], dtype=float)
        grouped = pd.Series(values).groupby(group)
        assert np.array_equal(_period_mean(values, group), grouped.transform("mean").to_numpy(), equal_nan=True)
        filled = np.nan_to_num(values)
        assert np.array_equal(_period_totals(filled, group)[0], pd.Series(filled).groupby(group).transform("sum"))

    @given(st.lists(st.tuples(st.integers(0, 2), st.integers(-1, 1)), max_size=30), st.integers(-3, 3))
    def test_rules_shift_within_groups_as_groupby_shift(self, points, periods):
        """Also when a group's points are not next to each other (the rules take any grouping)."""
        from escalation_analysis.measures.spc_rules import _groups, _shifted

        group = np.array([g for g, _ in points], dtype=int)
        values = np.array([v for _, v in points], dtype=float)
        expected = pd.Series(values).groupby(group).shift(periods).to_numpy()
        assert np.array_equal(_shifted(values, _groups(group, len(group)), periods, np.nan), expected, equal_nan=True)


class TestSummariesBeforeAndAfter:
    """Every figure of the summary is what it was before the speed work, figure by figure.

    The snapshots were written by ``tests/fixtures/equivalence/snapshot.py`` from the pipeline
    before its fast paths; a change that moves any figure fails here, naming each one.
    """

    def test_the_sample_summary_is_unchanged(self, sample):
        from escalation_analysis.reviews.summary import build_summary

        expected = snapshot.read(EQUIVALENCE / "sample_summary.json")
        changed = snapshot.differences(expected, snapshot.figures(build_summary(sample)))
        assert not changed, f"{len(changed)} of {len(expected)} figures changed:\n" + "\n".join(changed[:40])

    @pytest.mark.slow
    def test_a_100k_export_summary_is_unchanged(self, tmp_path):
        expected = snapshot.read(EQUIVALENCE / "large_summary.json")
        changed = snapshot.differences(expected, snapshot.figures(snapshot.large_summary(tmp_path)))
        assert len(expected) > 1000
        assert not changed, f"{len(changed)} of {len(expected)} figures changed:\n" + "\n".join(changed[:40])

    def test_a_changed_figure_is_named(self):
        expected = {"/timeliness/n": 10, "/rate": 0.5, "tables/t/rows/0/team": "North"}
        got = {"/timeliness/n": 10, "/rate": 0.5000000000001, "tables/t/rows/0/team": "South"}
        assert snapshot.differences(expected, got) == ["tables/t/rows/0/team: 'North' before, 'South' now"]
        assert snapshot.differences(expected, {}) == [f"{k}: {v!r} before, missing now" for k, v in expected.items()]


class TestDisclosureAudit:
    """The audit loads its programme into HiGHS once and changes only the objective."""

    def test_every_solve_is_exactly_linprogs(self, handworked):
        from scipy.optimize import linprog

        from escalation_analysis.reviews.disclosure import EXACT_SECONDARY, plan_for
        from escalation_analysis.reviews.disclosure.audit import AttackModel

        plan = plan_for(handworked, EXACT_SECONDARY)
        model = AttackModel(plan.all_families(), plan.figures(), [c.cell for c in plan.checks()])
        n = len(model._variables)
        objectives = []
        for check in plan.checks()[:15]:
            vector = np.zeros(n)
            for index, coefficient in model.expression([(1.0, check.cell)]).items():
                vector[index] = coefficient
            objectives += [vector, -vector]
        rng = np.random.default_rng(7)
        objectives += [rng.uniform(-1, 1, n) for _ in range(5)] + [rng.uniform(0, 1, n) for _ in range(5)]
        statuses = set()
        for objective in objectives:  # in turn, as an audit asks: each answer must not depend on the one before
            ours = model._solve(objective)
            theirs = linprog(objective, A_ub=model._a_ub, b_ub=model._b_ub, A_eq=model._a_eq, b_eq=model._b_eq,
                             bounds=(0, None), method="highs")
            statuses.add(theirs.status)
            assert ours.status == theirs.status
            if theirs.status == 0:
                assert ours.fun == theirs.fun
                assert np.array_equal(ours.x, theirs.x)
                assert np.array_equal(ours.marginals, theirs.ineqlin.marginals)
        assert statuses == {0, 3}  # bounded and unbounded programmes both met


# -- looking references up among others (files.text_isin) ----------------------------------------

_REFERENCE = st.one_of(st.none(), st.sampled_from(["W1", "W2", "w1", "W1 ", "", "Ünïcode", "W10"]))


@given(values=st.lists(_REFERENCE, max_size=30), among=st.lists(_REFERENCE, max_size=12), as_index=st.booleans())
@example(values=["W1", None], among=[None], as_index=False)  # a blank matches a blank, as pandas
@example(values=["W1", None], among=[], as_index=True)
def test_looking_references_up_is_pandas_isin(values, among, as_index):
    """What the analyses ask when they link steps, actions and training to episodes: the same
    answer as pandas' ``isin``, which makes a Python object of every reference looked among."""
    column = pd.Series(values, dtype="str", index=pd.RangeIndex(5, 5 + len(values)), name="incident_id")
    choices = pd.Index(among, dtype="str") if as_index else pd.Series(among, dtype="str")
    found = read.text_isin(column, choices)
    pd.testing.assert_series_equal(found, column.isin(choices))
    numbers = pd.Series([1, 2, 3])  # anything but text is pandas' own isin
    pd.testing.assert_series_equal(read.text_isin(numbers, pd.Index([2])), numbers.isin([2]))


class TestTableWords:
    """display._in_words against pandas' replace, which table_html called for every text column."""

    from escalation_analysis.reviews.labels import VALUES as _VALUES

    _cell = st.one_of(
        st.sampled_from(sorted(_VALUES)), st.sampled_from(["", " ", "*", "[c]", "Near miss", "x"]),
        st.none(), st.just(np.nan), st.just(pd.NA), st.integers(-3, 3), st.floats(allow_nan=True), st.booleans(),
        st.text(max_size=5), st.sampled_from(sorted(_VALUES)).map(np.str_),
    )

    @given(cells=st.lists(_cell, max_size=15), dtype=st.sampled_from(["object", "category", "string", "str"]),
           name=st.sampled_from(["team", "ooh_sub_band", "harm", "x"]), shuffled=st.booleans())
    def test_words_are_put_in_as_pandas_replace_puts_them(self, cells, dtype, name, shuffled):
        from escalation_analysis.reviews import display
        from escalation_analysis.reviews.labels import VALUES, VALUES_BY_COLUMN

        if dtype != "object":
            cells = [c if isinstance(c, str) else None for c in cells]
        series = pd.Series(cells, dtype=dtype, name=name)
        if shuffled:
            series.index = pd.Index(random.Random(len(cells)).sample(range(100), len(cells)))
        words = {**VALUES, **VALUES_BY_COLUMN.get(name, {})}
        expected = series.astype(object).replace(words)
        got = display._in_words(series.astype(object), words)
        assert got.dtype == expected.dtype and got.name == expected.name and got.index.equals(expected.index)
        for a, b in zip(got, expected, strict=True):
            assert a is b or (type(a) is type(b) and (a == b or (a != a and b != b)))
