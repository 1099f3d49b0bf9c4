"""The web app's pages, one module per area; each view calls one service or selector."""
