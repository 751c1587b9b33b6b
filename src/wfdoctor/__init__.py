"""wfdoctor: the performance doctor for WIRTHFORGE and local LLM servers."""

__version__ = "0.1.0"
