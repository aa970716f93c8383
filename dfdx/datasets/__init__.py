"""Where videos and their labels come from: dataset profiles, the walk over a dataset folder, and the
download from Kaggle (listing, the download ledger, retries, safe unpacking)."""
