"""Tables, figures and BENCHMARKS.md from tracked results (docs/protocol.md §7).

Finished runs are read from MLflow (:mod:`collect`), aggregated over seeds (:mod:`aggregate`), laid out as the
sweep file's ``table:`` block says (:mod:`layout`) and rendered to Markdown, LaTeX and CSV (``render_*``).
:mod:`figures` draws seaborn plots; :mod:`benchmarks_md` rebuilds BENCHMARKS.md's generated sections.
"""
