"""How many memories one retrieval offered and how many the user took, counted once here
for every place that shows it (the TUI's panel and its folded line say the same): what was
retrieved and accepted, and what of it actually reaches the prompt."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SelectionCount:
    query: str
    retrieved: int  # passed the cuts: what the agent gets unless rejected
    accepted: int  # in the prompt's selection, held-back ones the user took included
    held_back: int  # candidates the cuts held back, and those superseded or in conflict
    over_budget: int = 0  # accepted, but beyond the memory budget

    @property
    def in_prompt(self) -> int:
        """The memories the agent gets: accepted, within the budget."""
        return max(self.accepted - self.over_budget, 0)

    def reach(self) -> str:
        """What reaches the prompt, said wherever the count is ("none in the prompt" when
        the user rejected every item or the budget left every accepted one out); empty
        before a task, or when nothing was relevant enough and nothing was taken."""
        if not self.query.strip() or not (self.retrieved or self.accepted):
            return ""
        return f"{self.in_prompt} in the prompt" if self.in_prompt else "none in the prompt"

    def text(self) -> str:
        if not self.query.strip():
            return "none yet"
        if self.retrieved:
            budget = f" ({self.over_budget} over budget)" if self.over_budget else ""
            parts = [f"{self.retrieved} retrieved, {self.accepted} accepted{budget}"]
        else:
            taken = f", {self.accepted} accepted" if self.accepted else ""
            parts = [f"nothing relevant enough{taken}"]
        if self.held_back:
            parts.append(f"{self.held_back} held back")
        return " · ".join(parts)

    def line(self) -> str:
        """The count and what reaches the prompt: the panel's count line and the folded
        line say this, held-back memories the user took included."""
        return " · ".join(filter(None, [self.text(), self.reach()]))
