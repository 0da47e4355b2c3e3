"""Report templates shipped with airtrack (``report plays --template NAME``)."""
