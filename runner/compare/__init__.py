"""`ftrun compare`: finished runs gathered and ranked within a group of like runs: same eval set, task and
headline metric (`comparison`), tested pairwise as the metric allows (`paired`), one configuration per
method chosen on validation (`selection`, over `configurations`), tables, notes and files (`exports`,
`notes`, `figures`), and report.md with plots (`report`, `plots`).
"""
