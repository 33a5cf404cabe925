"""Reports: a results folder's run records → ``report.md``, PNG figures and the printed summary, one module per
task (:mod:`~denoiserec.report.ctr`, :mod:`~denoiserec.report.seqrec`, reached through the task's
``write_report`` / ``print_summary``), sharing tables, statistics and figures (:mod:`~denoiserec.report.common`).
The numbers they show are computed in :mod:`denoiserec.eval`."""
