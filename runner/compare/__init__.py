"""`ftrun compare`: finished runs gathered and ranked within an eval set (`comparison`), one configuration
per method chosen on validation (`selection`), tables and files (`exports`), and report.md with plots
(`report`).
"""
