"""The chat turn: prompt assembly, history trimming, and streaming a reply."""
