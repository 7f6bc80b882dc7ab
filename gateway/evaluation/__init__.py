"""Maintainer tools: replay a trace through the engine (`replay`), score it against its truth
(`scoring`), the naive DIY baseline (`baseline`) and the timeline plot (`plot`).
"""
