"""ActivityPub server-to-server: each publishing community as a Group actor (optional
extra: `pip install 'hearth[federation]'`, which brings the HTTP Signatures library)."""
