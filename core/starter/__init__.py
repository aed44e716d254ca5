"""The student starter: the repository with the four task regions replaced by TODO stubs.

    python -m core.starter OUT_DIR            # write the starter
    python -m core.starter OUT_DIR --force    # write into a non-empty folder
"""
from core.starter.generate import TASK_FILES, find_regions, make_starter, restore_regions

__all__ = ["TASK_FILES", "find_regions", "make_starter", "restore_regions"]
