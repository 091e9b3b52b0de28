from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mtl_tui.errors import MtlError
from mtl_tui.scrub import REDACTED, ScrubError, scrub, scrub_value

SECRETS = [
    ("export OPENAI_API_KEY=sk-proj-Abc123Def456Ghi789Jkl", "sk-proj-Abc123Def456Ghi789Jkl"),
    ("token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"),
    ("aws AKIAIOSFODNN7EXAMPLE key", "AKIAIOSFODNN7EXAMPLE"),
    ("password: hunter2hunter2", "hunter2hunter2"),
    ('DB_PASSWORD="c0rrect-horse"', "c0rrect-horse"),
    ("mysql --password s3cr3tpass", "s3cr3tpass"),
    ("git clone https://bob:pa55word@example.com/x.git", "pa55word"),
    ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz"),
    ("xoxb-1234567890-abcdefghij", "xoxb-1234567890-abcdefghij"),
    (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
        "MIIEowIBAAKCAQEA",
    ),
    (
        "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "dozjgNryP4J3jVmNHl0w5N",
    ),
]


@pytest.mark.parametrize(("text", "secret"), SECRETS)
def test_secrets_are_redacted(text: str, secret: str) -> None:
    cleaned = scrub(text)
    assert secret not in cleaned
    assert REDACTED in cleaned


@pytest.mark.parametrize(
    "text",
    [
        "Never hardcode the password inside tests; read it from the environment.",
        "Run the smallest failing test first and read its token stream output.",
        "author: the maintainers",
        "Use ./scripts/check.sh and src/module/file relative paths freely.",
        "Set max_tokens = 4096 and log tokens: 1234 per call to watch the cost.",
        "Names like runs/2026/x.traj.json and ids like 20261122-221000-abc123 stay.",
    ],
)
def test_ordinary_prose_survives(text: str) -> None:
    assert scrub(text) == text


def test_absolute_paths_lose_their_directories() -> None:
    cleaned = scrub("edited /home/alice/work/app/main.py and /srv/build/out.log, not /dev/null")
    assert "alice" not in cleaned and "/srv/build" not in cleaned
    assert "main.py" in cleaned and "out.log" in cleaned and "/dev/null" in cleaned


def test_scrub_value_walks_nested_data() -> None:
    data = {"a": ["token=abcd1234efgh"], "b": {"c": "/home/bob/x"}, "n": 3}
    assert scrub_value(data) == {"a": [f"token={REDACTED}"], "b": {"c": "~/x"}, "n": 3}


# -- the corpora (tests/data/secrets; see make_corpus.py and bench_scrub.py) -----------------

DATA = Path(__file__).parent / "data" / "secrets"


def _corpus(name: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in (DATA / name).open()]


def _benign(name: str) -> list[str]:
    lines = (DATA / name).read_text().splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def _leaked(secret: str, text: str) -> bool:
    haystack = text.lower()
    for piece in secret.lower().split("\n"):
        width = min(len(piece), 12)
        if any(piece[i : i + width] in haystack for i in range(len(piece) - width + 1)):
            return True
    return False


def test_the_corpora_are_big_enough() -> None:
    report = _corpus("secrets-report.jsonl")
    assert len(report) >= 200 and len({r["provider"] for r in report}) >= 150
    assert len(_benign("benign-report.txt")) >= 40


# Misses of the report split, left as they are: fixing them would tune on the report.
# "sign in to the dashboard as reviewer / pw": words between "sign in" and "as".
KNOWN_REPORT_MISSES = {"prose-sign-in-slash"}


@pytest.mark.parametrize("split", ["tune", "report"])
def test_every_secret_of_the_corpus_is_redacted(split: str) -> None:
    missed = [
        (row["provider"], scrub(row["text"]))
        for row in _corpus(f"secrets-{split}.jsonl")
        if _leaked(row["secret"], scrub(row["text"]))
    ]
    known = KNOWN_REPORT_MISSES if split == "report" else set()
    assert {provider for provider, _ in missed} == known, missed


@pytest.mark.parametrize("split", ["tune", "report"])
def test_benign_sentences_survive_unchanged(split: str) -> None:
    changed = [(s, scrub(s)) for s in _benign(f"benign-{split}.txt") if scrub(s) != s]
    assert changed == []


def test_a_key_after_other_words_and_colons_is_still_found() -> None:
    text = 'Looking at this: AZURE_DEVOPS_PAT="xnjz9z4fpuf88ad3hn78e44x1w67he36rx3qp2w0psgali"'
    assert scrub(text) == 'Looking at this: AZURE_DEVOPS_PAT="[REDACTED]"'


def test_redaction_is_stable_and_keeps_the_key() -> None:
    once = scrub('export STRIPE_KEY="sk_live_4eC39HqLyjWDarjtT1zdp7dc" # prod')
    assert once == 'export STRIPE_KEY="[REDACTED]" # prod' and scrub(once) == once


@pytest.mark.parametrize(
    "text",
    [
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAAB",
        "psql postgresql://app:Tr0ub4dor3x@db:5432/shop",
        "redis-cli -u redis://:Zq8vLw2Xk9@cache:6379",
        "mysql -uroot -pS3cr3tPassw0rd shop",
        "curl -u admin:Pa55w0rdX https://ci.example.com",
    ],
)
def test_credentials_in_blocks_urls_and_flags(text: str) -> None:
    cleaned = scrub(text)
    assert REDACTED in cleaned
    assert not any(s in cleaned for s in ("b3BlbnNzaC1", "Tr0ub4dor3x", "Zq8vLw2Xk9",
                                          "S3cr3tPassw0rd", "Pa55w0rdX"))  # fmt: skip


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        (
            "cannot reach http://user:secret@127.0.0.1:9/v1",
            "user:secret",
            "cannot reach http://[REDACTED]@127.0.0.1:9/v1",
        ),
        (
            "git clone https://ghp_Xq7Lm2Vb9Nc4Rt8Yw1Zk5Pd3Hs6Jf0Ga2Eu@github.com/o/r.git",
            "ghp_Xq7Lm2Vb9Nc4Rt8Yw1Zk5Pd3Hs6Jf0Ga2Eu",
            "git clone https://[REDACTED]@github.com/o/r.git",
        ),
        (
            "DATABASE_URL=postgres://app:p%40ss%21Tr0ub4dor@db:5432/shop",
            "Tr0ub4dor",
            "DATABASE_URL=postgres://[REDACTED]@db:5432/shop",
        ),
        (
            "push https://x-access-token:ghs_AbCdEf0123456789AbCdEf0123456789AbCd@github.com/o/r",
            "AbCdEf0123456789",
            "push https://[REDACTED]@github.com/o/r",
        ),
        # a raw `@` in the password: everything up to the last `@` of the authority goes
        ("redis://:p@ss@cache:6379", "ss", "redis://[REDACTED]@cache:6379"),
        (
            "REDIS_URL=redis://default:Tr0@b4@dor@cache:6379/0 then mail ops@example.com",
            "b4@dor",
            "REDIS_URL=redis://[REDACTED]@cache:6379/0 then mail ops@example.com",
        ),
        (
            "push https://x-access-token:ghs_AbCdEf0123456789AbCdEf0123456789AbCd@github.com/o/r"
            "?notify=ops@example.com",
            "AbCdEf0123456789",
            "push https://[REDACTED]@github.com/o/r?notify=ops@example.com",
        ),
        # a raw `?` or `#` in the password does not end the userinfo when an `@` follows
        (
            "postgres://app:Xy7?qP2z9@db.internal:5432/app",
            "qP2z9",
            "postgres://[REDACTED]@db.internal:5432/app",
        ),
        (
            'REDIS_URL="redis://:Kq8?vN3#xZ@cache:6379/0"',
            "vN3",
            'REDIS_URL="redis://[REDACTED]@cache:6379/0"',
        ),
        # a raw `@` in the user name
        (
            "smtp://alerts@corp.com:Xy7qP2z9Lm@smtp.corp.com:587",
            "Xy7qP2z9Lm",
            "smtp://[REDACTED]@smtp.corp.com:587",
        ),
        (
            "https://jane.doe@corp.com:Xy7qP2z9Lm@git.corp.com/team/repo.git",
            "Xy7qP2z9Lm",
            "https://[REDACTED]@git.corp.com/team/repo.git",
        ),
    ],
)
def test_credentials_in_a_url_keep_its_shape(text: str, secret: str, kept: str) -> None:
    """Only the userinfo goes: the scheme, `//`, `@` and host stay, so an error still says
    where it could not connect."""
    cleaned = scrub(text)
    assert secret not in cleaned
    assert cleaned == kept


@pytest.mark.parametrize(
    "text",
    [
        "http://localhost:8080?email=a@b.com",
        "http://example.com?to=a@b.com",
        "http://example.com#x@y",
        "https://registry.npmjs.org/@scope/pkg",
        "https://unpkg.com/@babel/core@7.24.0",
        "https://medium.com/@author",
        "https://www.google.com/maps/@48.85,2.35,15z",
        "ssh://git@github.com:22/o/r.git",
    ],
)
def test_a_host_with_a_query_or_a_path_holding_an_at_is_not_userinfo(text: str) -> None:
    assert scrub(text) == text


def test_api_routes_keep_their_directories_but_home_paths_do_not() -> None:
    assert scrub("call /api/v1/users/{id}") == "call /api/v1/users/{id}"
    assert scrub("see /srv/app/config/settings.py") == "see …/settings.py"


def test_invisible_characters_go_even_with_nothing_else_to_scrub() -> None:
    """They could hide a token from every pattern, or make a copy of a trusted lesson look
    different from what is stored."""
    token = "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z"
    for mark in ("\u200b", "\u2063", "\u034f", "\u180b", "\ufe0f"):
        hidden = f"{token[:10]}{mark}{token[10:]}"
        assert scrub_value({"title": f"Read{mark} the evaluator"}) == {
            "title": "Read the evaluator"
        }
        assert token not in scrub_value({"content": f"use {hidden} here"})["content"]


# -- what encodings, look-alikes and line-wraps hid (security review, issue #12 round 2) ----

PW = "Qz7xK2pLm9Vt"
GHP = "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (f"curl -udeploy:{PW} https://ci.example.com/api", "https://ci.example.com/api"),
        (f"wget --user=deploy:{PW} https://x.example.com/a.tgz", "https://x.example.com/a.tgz"),
        (f"DATABASE_URL=postgres%3A%2F%2Fapp%3A{PW}%40db.internal%2Fshop", "db.internal"),
        (f"q=mysql%253A%252F%252Froot%253A{PW}%2540db", "q=mysql"),
        (f'{{"url": "postgres:\\/\\/app:{PW}@db.internal\\/shop"}}', "db.internal"),
        (f'["password = \\"{PW}\\"\\n"]', '["password = '),
        (f"postgres&#58;&#47;&#47;app&#58;{PW}&#64;db.internal", "db.internal"),
    ],
)
def test_encoded_credentials_are_found_and_the_rest_kept(text: str, kept: str) -> None:
    cleaned = scrub(text)
    assert PW not in cleaned and REDACTED in cleaned
    assert kept in cleaned


@pytest.mark.parametrize(
    "text",
    [
        f"token: {GHP[:22]}\n{GHP[22:]} used by ci",
        f"export GITHUB_TOKEN={GHP[:20]}\\\n    {GHP[20:]}",
        f'TOKEN = ("{GHP[:24]}"\n         "{GHP[24:]}")',
        f"2026-11-22T10:00:01Z push with {GHP[:30]}\n{GHP[30:]} done",
    ],
)
def test_a_token_wrapped_across_lines_goes_whole(text: str) -> None:
    cleaned = scrub(text)
    for piece in (GHP[4:16], GHP[-10:], GHP[20:30]):
        assert piece not in cleaned, cleaned


def test_a_wrapped_key_body_without_its_armour_goes_whole() -> None:
    body = [
        "MIIEowIBAAKCAQEAx5vGtq0Jm1u9C0Dfb4Q2eH7Jk3Lm9Np8Rs6Tu1Vw2Xy3Zz4Ab5Cd6Ef7Gh8Ij9Kl0Mn1Op2",
        "Qr3St4Uv5Wx6Yz7Ab8Cd9Ef0Gh1Ij2Kl3Mn4Op5Qr6St7Uv8Wx9Yz0Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9S",
        "t0Uv1Wx2Y",
    ]
    cleaned = scrub("key body as pasted:\n" + "\n".join(body))
    assert all(line not in cleaned for line in body)
    assert cleaned.startswith("key body as pasted:")


@pytest.mark.parametrize(
    "prefix",
    [
        "gh\u0440_",  # Cyrillic er
        "\uff47\uff48\uff50_",  # full-width g h p
        "g\u04bbp_",  # Cyrillic shha for h
        "g\u0301hp_",  # a combining accent inside the prefix
        "\U0001d420hp_",  # mathematical bold g
    ],
)
def test_look_alike_letters_in_a_prefix_do_not_hide_a_token(prefix: str) -> None:
    body = GHP[4:]
    text = f"push with {prefix}{body} then stop"
    # the original characters are what go: nothing of the disguised prefix is left behind
    assert scrub(text) == f"push with {REDACTED} then stop"


def test_look_alike_letters_in_a_key_name_do_not_hide_its_value() -> None:
    assert scrub(f"\u0440\u0430ssword = {PW}") == f"\u0440\u0430ssword = {REDACTED}"


@pytest.mark.parametrize(
    "text",
    [
        "Сообщение «Неверный пароль» значит, что пароль не подошёл: проверьте раскладку.",
        "Ο έλεγχος αποτυγχάνει όταν λείπει το κλειδί API από το περιβάλλον.",
        "Ｃｏｎｆｉｇ files saved with full-width letters need NFKC before you diff them.",
        "git push -u origin main\nsort -u names.txt\ndocker run -u 1000:1000 app\n"
        'docker run -u "$(id -u):$(id -g)" -v "$PWD:/src" builder',
        "Percent-encode a space as %20 and a slash as %2F: q=a%20b%2Fc&page=2",
        '{"url": "https:\\/\\/example.com\\/api\\/v1", "msg": "saved \\"report.csv\\""}',
        "def configure_logging_for_the_whole_application(\n    level=logging.INFO,\n):",
        "ResourceManagerConfigurationBuilder\nValidationErrorCollectionHandler\n",
        "cat <<'EOF' > notes.txt\nremember to rotate the staging credentials quarterly\nEOF",
        "echo aGVsbG8gd29ybGQ= | base64 -d prints a greeting.",
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8 passed: \x1b[32mok\x1b[0m",
    ],
)
def test_near_misses_of_the_new_readings_stay(text: str) -> None:
    assert scrub(text) == text


@pytest.mark.parametrize(
    "text",
    [
        # a Basic credential without its header, a Docker auths object, a key file: base64
        "echo ZGVwbG95OlF6N3hLMnBMbTlWdA== | base64 -d",
        "data: eyJhdXRocyI6eyJnaGNyLmlvIjp7ImF1dGgiOiJaR1Z3Ykc5NU9sRjZOM2hMTW5CTWJU"
        "bFdkQT09In19fQ==",
        "client-key-data: LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCk1IY0NBUUVFSU"
        "JnUXo3eEsycExtOVZ0Cg==",
    ],
)
def test_base64_that_decodes_to_a_credential_goes(text: str) -> None:
    cleaned = scrub(text)
    assert REDACTED in cleaned
    assert not any(len(w) > 20 for w in cleaned.split()), cleaned


@pytest.mark.parametrize(
    "text",
    [
        f"<server><username>ci</username><password>{PW}</password></server>",
        f'dsn := "app:{PW}@tcp(db:3306)/shop"',
        f"redis-cli -h cache -a {PW} ping",
        f"openssl pkcs12 -export -passout pass:{PW} -out a.p12",
        f"zip -P {PW} backup.zip notes.txt",
        f"7z a -p{PW} backup.7z dir",
        f"ssh-keygen -t ed25519 -N '{PW}' -f key",
        f"ldapsearch -x -D cn=admin,dc=example,dc=org -w {PW}",
        f"sqlcmd -S db -U sa -P {PW} -Q 'select 1'",
        f"npm config set //registry.npmjs.org/:_authToken {PW}",
        f'<add key="ApiKey" value="{PW}" />',
        f"env:\n- name: DB_PASSWORD\n  value: {PW}",
        f'[{{"name": "API_TOKEN", "value": "{PW}"}}]',
        f'api_key = os.getenv("API_KEY", "{PW}")',
        f"password: >-\n  {PW}",
        f"ENV DB_PASSWORD {PW}",
        f"set -gx API_TOKEN {PW}",
        f"gh secret set DEPLOY_KEY --body {PW}",
        f"echo '{PW}' | sudo -S apt-get update",
        f"requests.get(url, auth=('ci', '{PW}'))",
        f"db.internal:5432:shop:app:{PW}",
        f"DB_PASSWORD=${{DB_PASSWORD:-{PW}}}",
        f"net use \\\\fs\\share /user:admin {PW}",
        f"connect as user admin, password {PW}, then rotate it",
        # cut short (a field truncated at 80 characters)
        f"<username>ci</username>\n  <password>{PW}",
        # grep --color splits a key from its value; hex hides the whole line
        f"DB_\x1b[01;31m\x1b[KPASSWORD\x1b[m\x1b[K={PW}",
        "echo " + f"DB_PASSWORD={PW}".encode().hex() + " | xxd -r -p",
    ],
)
def test_credentials_found_by_hunting_are_redacted(text: str) -> None:
    cleaned = scrub(text)
    assert PW not in cleaned and REDACTED in cleaned


@pytest.mark.parametrize(
    "text",
    [
        "<passwordPolicy>strict</passwordPolicy> names a rule set.",
        "A Kubernetes env entry - name: DB_PASSWORD with valueFrom reads a Secret.",
        "ssh-keygen -N '' makes a key without a passphrase.",
        "config.get('token', None) returns None when no token is configured.",
        "The Go DSN user:password@tcp(localhost:3306)/dbname in the docs is a template.",
        "localhost:5432:*:*:* matches every database.",
        "git config --global credential.helper store",
    ],
)
def test_near_misses_of_the_hunted_rules_stay(text: str) -> None:
    assert scrub(text) == text


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("login: admin / hunter2", "hunter2"),
        ("user admin password hunter2", "hunter2"),
        ("Log in as ops / Winter2024! and check the queue.", "Winter2024"),
        ("username: ci, pass: p@ssw0rd", "p@ssw0rd"),
        ("user=deploy password: 4242-1717", "4242-1717"),
        ("the creds for staging are app / t0pSecret", "t0pSecret"),
        ("Signed in as qa / Autumn#77 to reproduce it.", "Autumn#77"),
        ("user admin / hunter2", "hunter2"),
        ("user ci-bot / Sprint12", "Sprint12"),
        ("user: bob / Output2", "Output2"),
        ("user alice pass hunter2", "hunter2"),
        ("user alice pass: test_login2", "test_login2"),
        ("login: admin / ABC123", "ABC123"),
    ],
)
def test_credential_pairs_in_prose_are_redacted(text: str, secret: str) -> None:
    cleaned = scrub(text)
    assert secret not in cleaned and REDACTED in cleaned
    assert cleaned.split(REDACTED)[0] == text.split(secret)[0]  # the user name is kept


@pytest.mark.parametrize(
    "text",
    [
        "Log in as admin / root only when the task needs it.",
        "The user admin password policy requires 12 characters.",
        "user admin password reset emails go to the ops list.",
        "Set user and password in the environment, not on the command line.",
        "The user table has login / email2 columns.",
        "user: bob / bob@example.com is his second address.",
        "The account owner / admin can change it.",
        "user admin password v2.1 of the form.",
        "Check the user/config/v2 endpoint.",
        "The user session / Cookie2 handling moved to middleware.",
        "login: admin / 45ms was the slowest step.",
        "user: bob / GBP20 is his monthly limit.",
        "user admin / 1.5GiB of the quota is left.",
        "Added user eve; pass --retries=4 to the importer.",
        "user eve pass parse_args2 as the callback.",
    ],
)
def test_prose_that_only_talks_about_logins_stays(text: str) -> None:
    assert scrub(text) == text


@pytest.mark.parametrize(
    ("text", "kept"),
    [  # the forms the round 4 security review (F5) reproduced
        ("user admin\npassword hunter2", "user admin\npassword [REDACTED]"),
        ("login deploy\npass Tr0ub4dor", "login deploy\npass [REDACTED]"),
        ('password "hunter2"', 'password "[REDACTED]"'),
        ("password='x y'", "password='[REDACTED]'"),
        ("the password is 'my dog2 Rex'", "the password is '[REDACTED]'"),
        ("password hunter2 for user admin", "password [REDACTED] for user admin"),
        ("use password Xk9#mq for the ci account", "use password [REDACTED] for the ci account"),
        ("the password for user admin is hunter2", "the password for user admin is [REDACTED]"),
        ("creds: admin/hunter2", "creds: admin/[REDACTED]"),
        ("credentials: root/toor", "credentials: root/[REDACTED]"),
        ("Benutzer admin, Passwort geheim123", "Benutzer admin, Passwort [REDACTED]"),
        ("Kennwort: Sommer2024", "Kennwort: [REDACTED]"),
        ("Passwort für Benutzer admin ist geheim123", "Passwort für Benutzer admin ist [REDACTED]"),
        ("utilisateur admin, mot de passe soleil42", "utilisateur admin, mot de passe [REDACTED]"),
        ("mot de passe : soleil42", "mot de passe : [REDACTED]"),
        ("usuario admin contraseña verano99", "usuario admin contraseña [REDACTED]"),
        ("la contraseña es verano99", "la contraseña es [REDACTED]"),
    ],
)  # fmt: skip
def test_prose_credentials_in_other_orders_quotes_and_languages_go(text: str, kept: str) -> None:
    assert scrub(text) == kept


@pytest.mark.parametrize(
    "text",
    [
        'The login form shows "Invalid password" when the hash check fails.',
        'The password "reset" email links expire after one hour.',
        "Set the password for user creation in the admin console, not over the API.",
        "The password policy for user admin requires rotation every 90 days.",
        "Credentials: read/write access is granted per project.",
        "creds: a/b are placeholders in the template.",
        "Das Passwort muss mindestens zwölf Zeichen lang sein.",
        "Le mot de passe est stocké sous forme de hachage, jamais en clair.",
        "La contraseña debe cambiarse cada 90 días.",
        "Сообщение «Неверный пароль» значит, что пароль не подошёл.",
        "user admin\npassword reset emails go to the ops list.",
    ],
)
def test_prose_about_passwords_in_those_forms_stays(text: str) -> None:
    assert scrub(text) == text


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"title": "x", "content": b"ghp_secret"}, "value.content"),
        ({"tags": ["ok", object()]}, "value.tags[1]"),
        ([{"fields": {"title": bytearray(b"x")}}], "value[0].fields.title"),
    ],
)
def test_a_value_that_cannot_be_scanned_is_refused_not_passed(value: object, where: str) -> None:
    """Bytes or objects would pass the boundary unread: scrubbing says so instead, as a
    one-line error the command line prints before exiting non-zero."""
    with pytest.raises(ScrubError, match=rf"cannot scan {re.escape(where)} for secrets") as info:
        scrub_value(value)
    assert isinstance(info.value, MtlError) and info.value.exit_code != 0


def test_agents_md_export_scrubs_a_wrapped_token_before_joining_its_lines() -> None:
    """The export joins each lesson into one line; a token wrapped in a stored field (as an
    older mtl left it) must not become two harmless-looking words first."""
    from mtl_tui.memory import packs
    from mtl_tui.records import Memory

    tail = "Zq8vLw2Xk9Tb4Nc7"  # the part after the wrap: alone, it looks like nothing
    content = f"push with ghp_{GHP[4:26]}\n{tail} failed"
    memory = Memory(
        kind="insight",
        fields={"title": "Rotate a leaked token", "description": "Seen in CI.", "content": content},
    )
    document = packs.agents_md([memory])
    assert tail not in document and GHP[4:16] not in document
    assert "Rotate a leaked token" in document


# -- security review of round 2 (issue #12): invisible characters, speed, near misses ------

# One of each kind the reviewer used: bidi embeddings and isolates, a tag character, the
# Arabic letter mark, Hangul fillers (choseong, jungseong, compatibility, half-width) and a
# supplementary variation selector.
HIDING = ["\u202a", "\u202e", "\u2066", "\u2069", "\U000e0041", "\U000e007f", "\u061c",
          "\u3164", "\u115f", "\u1160", "\uffa0", "\U000e0100", "\U000e01ef"]  # fmt: skip


def _spliced(token: str, mark: str, every: int = 6) -> str:
    return mark.join(token[i : i + every] for i in range(0, len(token), every))


@pytest.mark.parametrize("mark", HIDING, ids=lambda m: f"U+{ord(m):04X}")
def test_an_invisible_character_every_few_letters_hides_nothing(mark: str) -> None:
    for token in (GHP, "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"):
        cleaned = scrub(f"push with {_spliced(token, mark)} failed")
        assert cleaned == f"push with {REDACTED} failed"
    # and in what is stored, invisible characters always go, secret or not
    assert scrub(f"Read{mark} the evaluator{mark} first") == "Read the evaluator first"


def test_invisible_characters_are_told_by_category_not_by_a_list() -> None:
    """Every format character (Cf) goes, including ones no list above names; visible
    non-ASCII text (accents, Hangul syllables, emoji with a skin tone) stays."""
    import unicodedata

    formats = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf"]
    assert len(formats) > 150
    text = "a".join(formats)
    assert scrub(text) == "a" * (len(formats) - 1)
    kept = "café 한국어 👍🏽 naïve"
    assert scrub(kept) == kept


def test_invisible_characters_leave_no_token_in_the_pool_or_either_export(store) -> None:
    from mtl_tui.memory import packs
    from mtl_tui.records import Memory

    mark = "\u2066"
    hidden = _spliced(GHP, mark)
    memory = Memory(
        kind="insight",
        fields={
            "title": "Rotate tokens",
            "description": "Seen in CI.",
            "content": f"the job pushed with {hidden}",
        },
        tags=[f"ci{mark}", hidden],
        languages=[hidden],
        model=f"gpt{mark}-x {hidden}",
    )
    store.add(memory)
    stored = store.list()
    exported = json.dumps(packs.build(store, stored, "p"), ensure_ascii=False)
    document = packs.agents_md(stored)
    for written in (exported, document):
        assert GHP[4:10] not in written.replace(mark, "")
        assert mark not in written


def test_combining_marks_inside_a_token_do_not_hide_it() -> None:
    marked = f"{GHP[:8]}\u0301{GHP[8:20]}\u20dd{GHP[20:]}"
    assert scrub(f"token {marked} here") == f"token {REDACTED} here"


@pytest.mark.parametrize(
    "text",
    [
        "src/components/UserProfileCard.tsx",
        "src/main/java/com/example/service/UserAccountService.java",
        "sentence-transformers/all-MiniLM-L6-v2",
        "org.apache.commons.lang3.StringUtils.isBlank",
        "ghcr.io/astral-sh/uv:0.4.18-python3.12-bookworm",
        "valueFrom:\n  secretKeyRef:\n    name: db-creds\n    key: password",
    ],
)
def test_names_paths_and_image_tags_are_not_secrets(text: str) -> None:
    assert scrub(text) == text


def test_a_detected_value_keeps_its_key_name() -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    assert scrub(f'aws_secret_access_key="{secret}")') == f'aws_secret_access_key="{REDACTED}")'


@pytest.mark.parametrize(
    "encoded",
    [GHP.encode().hex(), b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".hex()],
)
def test_hex_encoded_secrets_are_decoded(encoded: str) -> None:
    assert scrub(f"echo {encoded} | xxd -r -p") == f"echo {REDACTED} | xxd -r -p"


@pytest.mark.parametrize(
    "split",
    ["\r", "\u2028", "\u2029", "\f", "\v", "\x85", '" "', '" + "', "' + '"],
    ids=["cr", "ls", "ps", "ff", "vt", "nel", "literals", "plus", "single-plus"],
)
def test_a_token_split_by_other_breaks_or_adjacent_literals_goes_whole(split: str) -> None:
    quote = split[-1] if split[-1] in "\"'" else ""
    text = f"t = {quote}{GHP[:20]}{split}{GHP[20:]}{quote} # ok"
    cleaned = scrub(text)
    assert GHP[:10] not in cleaned and GHP[24:] not in cleaned and cleaned.endswith("# ok")


def test_html_numeric_references_without_semicolons_are_decoded() -> None:
    for ref in ("&#{};", "&#{}", "&#x{:x}"):
        encoded = "".join(ref.format(ord(c)) for c in GHP)
        assert scrub(f"x {encoded} y") == f"x {REDACTED} y"
    assert scrub('print("hello" "world") &#169 2026') == 'print("hello" "world") &#169 2026'


def test_errors_printed_by_the_command_line_are_scrubbed(monkeypatch, capsys) -> None:
    """The last line of defence prints an unexpected exception: scrubbed, non-zero."""
    import mtl_tui.cli as cli

    def explode() -> None:
        raise RuntimeError(f"request failed with token {GHP}")

    import mtl_tui.cli.root as root

    monkeypatch.setattr(root, "app", explode)
    monkeypatch.setattr("sys.argv", ["mtl", "memory", "list"])
    with pytest.raises(SystemExit) as info:
        cli.main()
    err = capsys.readouterr().err
    assert info.value.code == 1 and GHP not in err and REDACTED in err
    assert "RuntimeError" in err


def test_an_error_message_that_cannot_be_scrubbed_is_withheld(monkeypatch) -> None:
    import mtl_tui.scrub as boundary

    def refuse(text: str) -> str:
        raise ScrubError("kept changing")

    monkeypatch.setattr(boundary, "scrub_secrets", refuse)
    said = boundary.describe_exception(ValueError(f"bad {GHP}"))
    assert said == "ValueError: (details withheld: they could not be scrubbed)"


def test_a_text_too_big_to_scan_in_bounded_time_is_refused() -> None:
    from mtl_tui.scrub import MAX_SCAN

    with pytest.raises(ScrubError, match=r"cannot scan a text of .* characters for secrets"):
        scrub("a" * (MAX_SCAN + 1))
    with pytest.raises(ScrubError):
        scrub_value({"output": "b" * (MAX_SCAN + 1)})


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("password for the admin account is Winter2024!", "password for the admin account is "),
        ("user admin password Hunter2!?", "user admin password "),
    ],
)
def test_a_prose_password_takes_its_trailing_marks(text: str, kept: str) -> None:
    """Review 6 #8: `Winter2024!` left its `!` behind (it may be the password's own)."""
    assert scrub(text) == kept + REDACTED


@pytest.mark.parametrize(
    "text",
    [
        "Credentials: admin/users",
        "See credentials: admin/README.md for the setup",
        "See credentials: admin/README for the rotation policy.",
        "creds: root/home",
        "password for the admin account is required.",
    ],
)
def test_a_path_after_a_creds_word_is_not_a_password(text: str) -> None:
    """Review 6: `Credentials: admin/users` became `[REDACTED]]` (the slash rule, then a
    second pass over `admin/[REDACTED`)."""
    assert scrub(text) == text


def test_a_second_pass_never_leaves_part_of_a_marker() -> None:
    assert scrub("Credentials: admin/hunter2") == f"Credentials: {REDACTED}"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("la password è Estate2024!", "Estate2024"),  # Italian
        ("пароль: Zima2024!", "Zima2024"),  # Russian
        ("密码：Mima2024!", "Mima2024"),  # Chinese, a full-width colon
        ("パスワード: Pasu2024!", "Pasu2024"),  # Japanese
        ("heslo: Leto2024!", "Leto2024"),  # Czech
        ("lösenord: Sommar2024!", "Sommar2024"),  # Swedish
        ("Şifre: Yaz2024!x", "Yaz2024"),  # Turkish
    ],
)
def test_password_words_of_more_languages(text: str, secret: str) -> None:
    """Review 6 #7; their ordinary sentences stay (tests/data/secrets/benign-report.txt)."""
    assert secret not in scrub(text)


def test_creds_with_blanks_around_the_slash() -> None:
    """Review 6, an older miss: `creds: admin / hunter2x`; `credentials: read / write` stays."""
    assert scrub("creds: admin / hunter2x") == f"creds: admin / {REDACTED}"
    assert scrub("credentials: read / write") == "credentials: read / write"
