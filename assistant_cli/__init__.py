"""``assistant``: a terminal client of a running Durable Assistant app (chat with live progress, transcripts,
conversation lists). A developer tool: not deployed with the function app (see .funcignore)."""
