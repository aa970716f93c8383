"""The names of everything dfdx writes: one owner for each, so no module spells a file name itself.

An output folder holds the frame folders (one per category), the extraction ledger and what is built
from it; a download folder holds the dataset and its own download ledger.
"""

from __future__ import annotations

# The categories every profile maps videos to, and the folder (and file-name prefix) of their frames.
FAKE = "ai"
REAL = "real"
CATEGORIES = (FAKE, REAL)

# In the output folder.
LEDGER_NAME = "extraction_ledger.jsonl"  # one line per video attempt: the single source of truth
REPORT_NAME = "extraction_report.json"
LOG_NAME = "extraction.log"
HTML_NAME = "report.html"
ASSETS_DIR = "report_assets"  # thumbnails of the HTML report: not frames
PREVIEWS_DIR = f"{ASSETS_DIR}/previews"  # `crop: face`: each video's full frame, small, for the report's boxes
VERIFY_NAME = "verification_report.json"
SPLITS_NAME = "splits.json"
METADATA_NAME = "metadata.jsonl"  # what the Hugging Face imagefolder loader reads beside the frames
LOCK_NAME = ".dfdx.lock"

# In the download folder.
DOWNLOAD_LEDGER_NAME = "download_ledger.jsonl"
