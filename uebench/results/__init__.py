"""Records and what is read from them.

``records`` (the record's one home: schema, loader, cell, labels, assembly), ``stats``
(hierarchical bootstrap intervals, the paired control test and difference), ``curves``
(budget-efficacy curves and eps@50), ``leaderboard`` (the Markdown + CSV boards),
``defense_board`` (the defense board), ``scaling`` (the scale study's board, ``uebench
scaling``), ``context`` (where one run stands on the committed boards, printed by ``uebench
run``), ``compare`` (``uebench compare``: regression tracking of two record folders) and
``bench_compare`` (the same rule for the hot-path benchmarks)."""
