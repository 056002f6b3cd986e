"""The scaling sweep's table: reused builds marked, points of several runs named."""

from __future__ import annotations

from benchmarks.bench_scaling import SizePoint, markdown


def point(lines: int, run: str, reused: bool = False) -> SizePoint:
    return SizePoint(
        lines=lines,
        tokens=lines * 490,
        factroots_build_s=10.0,
        factroots_bytes=1,
        export_s=1.0,
        lucene_build_s=1.0,
        lucene_bytes=1,
        factroots_trace_s={"words": 0.5, "tokens": 1.0},
        scan_trace_s={"words": 50.0, "tokens": 60.0},
        lucene_per_fact_s=6.0,
        lucene_per_entity_s=20.0,
        factroots_p50_ms=0.1,
        factroots_p99_ms=1.0,
        lucene_p50_ms=0.2,
        lucene_p99_ms=1.0,
        lucene_count_p50_ms=0.02,
        lucene_count_p99_ms=0.1,
        facts=10,
        traced=10,
        lucene_disagreements=0,
        scan_disagreements=0,
        build_reused=reused,
        run=run,
    )


def test_a_reused_build_is_marked_in_the_table():
    table = markdown([point(1000, "a"), point(2000, "a", reused=True)])
    assert "| 2,000 | 1.0M | 10.0 (reused) / " in table
    assert "| 1,000 | 0.5M | 10.0 / " in table


def test_points_of_several_runs_each_name_their_run():
    table = markdown([point(1000, "abc1234, day 1"), point(2000, "def5678, day 2")])
    assert "1,000 lines: abc1234, day 1; 2,000 lines: def5678, day 2" in table


def test_points_of_one_run_name_no_run():
    assert "more than one run" not in markdown([point(1000, "a"), point(2000, "a")])
