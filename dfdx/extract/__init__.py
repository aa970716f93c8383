"""One video end to end: probe → plan → decode → transform → encode → write (`video.extract_video`)."""
