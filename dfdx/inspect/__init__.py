"""What people read about an output folder, built from its ledger: the report, report.html, verify."""
