"""The names of everything dfdx writes: one owner for each, so no module spells a file name itself.

An output folder holds the frame folders (one per category), the extraction ledger and what is built
from it; a download folder holds the dataset and its own download ledger.
"""

from __future__ import annotations

# The categories every profile maps videos to, and the folder (and file-name prefix) of their frames.
FAKE = "ai"
REAL = "real"
CATEGORIES = (FAKE, REAL)
SPLIT_NAMES = ("train", "val", "test")  # splits.json, metadata.jsonl, official splits, exports

# In the output folder.
LEDGER_NAME = "extraction_ledger.jsonl"  # one line per video attempt: the single source of truth
REPORT_NAME = "extraction_report.json"
LOG_NAME = "extraction.log"
HTML_NAME = "report.html"
ASSETS_DIR = "report_assets"  # thumbnails of the HTML report: not frames
VERIFY_NAME = "verification_report.json"
SPLITS_NAME = "splits.json"
METADATA_NAME = "metadata.jsonl"  # what the Hugging Face imagefolder loader reads beside the frames
LOCK_NAME = ".dfdx.lock"
# The Ray runner: one ledger per shard (no lock contention between nodes), folded with the main one. Files
# beside the main ledger, not a folder: a folder beside ai/ and real/ is a class to image-folder loaders.
SHARD_LEDGER_NAME = "extraction_ledger.shard-{:04d}.jsonl"  # .format(shard number)
SHARD_LEDGER_GLOB = "extraction_ledger.shard-*.jsonl"
SHARD_LOG_NAME = "extraction.shard-{:04d}.log"  # each shard task's warnings, with their video
CLUSTER_MARKER_NAME = ".dfdx-cluster-check"  # the shared-folder check: the driver writes it, every node reads it

# In the download folder.
DOWNLOAD_LEDGER_NAME = "download_ledger.jsonl"
# DFDC part by part: one download ledger per part (parts fetched at once by several nodes never share a file)
PART_DOWNLOAD_LEDGER_NAME = "download_ledger.{}.jsonl"  # .format(the part's zip name without .zip)
