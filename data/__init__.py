"""Small fixed data sets shipped with snnsim (see README.md in this folder)."""
