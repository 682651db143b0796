"""Errors a user fixes by editing input; the CLI prints them and exits with code 2."""


class UserInputError(Exception):
    """One or more problems with a study file, a dataset or a command-line value."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"{self.source}: {len(self.problems)} problem(s)"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)
