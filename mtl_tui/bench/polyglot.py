"""Aider's polyglot benchmark as bench tasks.

A checkout holds `<language>/exercises/practice/<slug>/` folders: `.docs/instructions.md`
(and `instructions.append.md`), `.meta/config.json` naming the solution, test and example
files, the stub, the tests and `.meta/example.*`. Each exercise becomes a task whose starting
files are the exercise without `.meta/` and `.docs/`, whose verify command restores the tests
(so an edited test cannot pass) and runs the language's test command, and whose reference
solution is the example laid over the stub. Like Aider's harness, every test runs: skipped
JavaScript tests (`xtest`), Java's `@Disabled` and Rust's `#[ignore]` are switched on."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path, PurePosixPath

from mtl_tui.bench import toolchains
from mtl_tui.bench.suite import Task
from mtl_tui.errors import MtlError

LANGUAGES = ("cpp", "go", "java", "javascript", "python", "rust")
HIDDEN = (".meta", ".docs", ".approaches", ".articles", "gradlew", "gradlew.bat", "gradle")
TIME_LIMIT = 600.0

AIDER_FOOTER = """####

Use the above instructions to modify the supplied files: {solution}
Don't change the names of existing functions or classes, as they may be referenced from other \
code like unit tests, etc.
Only use standard libraries, don't suggest installing any packages.
The tests are in {tests}; they are restored before they are run, so change the solution, \
not the tests. Run them with:
{command}
"""


def test_command(language: str) -> str:
    """The language's test command, run at the exercise's root."""
    q = shlex.quote
    if language == "python":
        # Plain pytest, as in the benchmark's own image: plugins installed here (random
        # order, xdist, ...) would change results, and loading them costs seconds a run.
        return "PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 python3 -m pytest -q -p no:cacheprovider"
    if language == "go":
        return "go test ./..."
    if language == "rust":
        return "cargo test --offline -q -- --include-ignored"
    if language == "cpp":
        return ("cmake -S . -B build -DEXERCISM_RUN_ALL_TESTS=1 -G 'Unix Makefiles' >/dev/null"
                " && make -s -C build")  # fmt: skip
    if language == "javascript":
        return f"{q(str(toolchains.node_modules() / '.bin' / 'jest'))} --ci --testTimeout 30000"
    if language == "java":
        jars = toolchains.java_jars()
        junit = q(str(jars / "junit-platform-console-standalone.jar"))
        assertj = q(str(jars / "assertj-core.jar"))
        return (
            "rm -rf build/mtl"
            " && javac -nowarn -d build/mtl/main $(find src/main/java -name '*.java')"
            f" && javac -nowarn -d build/mtl/test -cp build/mtl/main:{junit}:{assertj}"
            " $(find src/test/java -name '*.java')"
            f" && java -jar {junit} --disable-banner --details=summary --fail-if-no-tests"
            f" --class-path build/mtl/main:build/mtl/test:{assertj} --scan-class-path"
        )
    raise MtlError(f"no test command for language {language!r}")


def enable_all_tests(language: str, text: str) -> str:
    if language == "javascript":
        return re.sub(r"\bx(test|it)\(", r"\1(", text)
    if language == "java":
        return re.sub(r"@Disabled(\([^)]*\))?\s*", "", text)
    return text


def _read_config(exercise: Path) -> dict[str, list[str]]:
    config = exercise / ".meta" / "config.json"
    try:
        files = json.loads(config.read_text(encoding="utf-8"))["files"]
        return {k: [str(p) for p in files.get(k, [])] for k in ("solution", "test", "example")}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MtlError(f"{config}: not an exercise config ({exc})") from None


def solution_layout(solution: list[str], examples: list[str]) -> dict[str, str]:
    """Where each example file goes: the solution file of the same name, else the one
    solution file of its kind, else beside the solution files of its kind."""
    layout: dict[str, str] = {}
    for example in examples:
        path = PurePosixPath(example)
        same_name = [s for s in solution if PurePosixPath(s).name == path.name]
        same_kind = [s for s in solution if PurePosixPath(s).suffix == path.suffix]
        kind_examples = [e for e in examples if PurePosixPath(e).suffix == path.suffix]
        if same_name:
            layout[example] = same_name[0]
        elif len(same_kind) == 1 and len(kind_examples) == 1:
            layout[example] = same_kind[0]
        elif same_kind:
            layout[example] = str(PurePosixPath(same_kind[0]).parent / path.name)
        else:
            layout[example] = path.name
    return layout


def _instruction(exercise: Path, files: dict[str, list[str]], command: str) -> str:
    docs = exercise / ".docs"
    parts = [
        (docs / name).read_text(encoding="utf-8")
        for name in ("instructions.md", "instructions.append.md")
        if (docs / name).exists()
    ]
    footer = AIDER_FOOTER.format(
        solution=" ".join(files["solution"]), tests=" ".join(files["test"]), command=command
    )
    return "\n\n".join([*parts, footer])


def load_polyglot(root: Path, cache: Path, languages: set[str] | None = None) -> list[Task]:
    """Tasks from a polyglot-benchmark checkout, materialised under `cache`."""
    if not root.is_dir():
        raise MtlError(f"no polyglot benchmark checkout at {root}")
    unknown = (languages or set()) - set(LANGUAGES)
    if unknown:
        raise MtlError(f"unknown polyglot language {sorted(unknown)[0]!r} "
                       f"(expected: {', '.join(LANGUAGES)})")  # fmt: skip
    tasks = []
    for language in LANGUAGES:
        if languages and language not in languages:
            continue
        for exercise in sorted((root / language / "exercises" / "practice").glob("*/")):
            if (exercise / ".meta" / "config.json").exists():
                tasks.append(_task(language, exercise, cache / language / exercise.name))
    if not tasks:
        layout = "<language>/exercises/practice/<slug>/.meta/config.json"
        raise MtlError(f"{root}: no exercises ({layout})")
    return tasks


def _task(language: str, exercise: Path, where: Path) -> Task:
    files = _read_config(exercise)
    if not files["solution"] or not files["test"]:
        raise MtlError(f"{exercise}/.meta/config.json: names no solution or no test files")
    start, tests, solution = where / "files" / exercise.name, where / "tests", where / "solution"
    shutil.rmtree(where, ignore_errors=True)
    shutil.copytree(exercise, start, ignore=shutil.ignore_patterns(*HIDDEN))
    for name in files["test"]:
        source = exercise / name
        if not source.exists():
            raise MtlError(f"{exercise}: test file {name} is missing")
        text = enable_all_tests(language, source.read_text(encoding="utf-8"))
        for target in (start / name, tests / name):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    if language == "javascript":  # `npm test` works for the agent too
        (start / "node_modules").symlink_to(toolchains.node_modules(), target_is_directory=True)
    for example, target in solution_layout(files["solution"], files["example"]).items():
        if (exercise / example).exists():
            (solution / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(exercise / example, solution / target)
    crates = exercise / ".meta" / "Cargo-example.toml"  # the example's own dependencies
    if language == "rust" and crates.exists() and solution.is_dir():
        shutil.copyfile(crates, solution / "Cargo.toml")
    command = test_command(language)
    return Task(
        id=f"{language}/{exercise.name}",
        domain="polyglot",
        language=language,
        instruction=_instruction(exercise, files, command),
        verify=f"cp -R {shlex.quote(str(tests))}/. . && {command}",
        time_limit=TIME_LIMIT,
        folder=exercise,
        files=start,
        solution=solution if solution.is_dir() else None,
        suite="polyglot",
        toolchain="javascript-jest" if language == "javascript" else language,
    )
