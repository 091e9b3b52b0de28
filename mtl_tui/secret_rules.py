"""What a secret looks like: token formats documented by providers (the kinds that gitleaks,
detect-secrets and trufflehog rules describe), credentials in URLs, command-line flags and
config lines, and the allow-rules for what only resembles a secret.

Each pattern's named group `s`, when present, is the part to redact; otherwise the whole
match is. detect-secrets' own provider patterns are added at run time (see scrub.py).
"""

from __future__ import annotations

import re

# A token body: what follows a provider prefix.
_BODY = r"[A-Za-z0-9_\-.=+/~]"

# Provider prefixes that start a token, with the least body length after them. Written
# from the formats providers document for their keys (gitleaks' rule set lists most).
PREFIXES: dict[str, int] = {
    # source hosting and CI
    "ghp_": 30, "gho_": 30, "ghu_": 30, "ghs_": 30, "ghr_": 30, "github_pat_": 40,
    "glpat-": 20, "glptt-": 20, "gldt-": 20, "glft-": 20, "glrt-": 20, "glcbt-": 20,
    "glimt-": 20, "glagent-": 40, "gloas-": 40, "glsoat-": 20, "GR1348941": 20, "ATBB": 28,
    "ATATT3": 100, "rdme_": 40, "CLOJARS_": 40, "rubygems_": 40, "pypi-AgE": 50, "npm_": 30,
    "dckr_pat_": 20, "oy2": 40, "packagist_uat_": 40, "packagist_uut_": 40,
    # model providers
    "sk-proj-": 20, "sk-ant-": 40, "sk-or-v1-": 40, "sk-svcacct-": 20, "sk-admin-": 20,
    "gsk_": 40, "pplx-": 40, "hf_": 30, "api_org_": 30, "r8_": 30, "xai-": 40,
    "nvapi-": 40, "fw_": 20,
    # cloud
    "AIza": 30, "GOCSPX-": 20, "ya29.": 30, "dop_v1_": 60, "doo_v1_": 60, "dor_v1_": 60,
    "dapi": 32, "hvs.": 24, "hvb.": 24, "hvr.": 24, "HRKU-": 40, "LTAI": 16, "fo1_": 30,
    "sbp_": 40, "pscale_pw_": 30, "pscale_tkn_": 30, "pscale_oauth_": 30, "nfp_": 30,
    "dt0c01.": 60, "dt0s01.": 60, "NRAK-": 24, "NRII-": 24, "NRJS-": 16, "NRAA-": 24,
    "glc_": 30, "glsa_": 30, "eyJrIjoi": 40, "sntryu_": 40, "sntrys_": 40, "pul-": 40,
    "dp.pt.": 30, "dp.st.": 30, "dp.ct.": 30, "dp.sa.": 30, "dp.scim.": 30, "tk-us-": 40,
    "pnu_": 30, "ico-": 30, "AKCp": 40, "AQVN": 30, "t1.9euelZ": 40,
    "sha256~": 40, "v1.0-": 100, "ops_eyJ": 100, "AGE-SECRET-KEY-1": 50,
    "cmVmdGtu": 40, "CFPAT-": 40, "lin_api_": 30, "lin_oauth_": 30,
    "ntn_": 40, "PMAK-": 40, "figd_": 30, "xkeysib-": 60, "xsmtpsib-": 60,
    "shippo_live_": 30, "shippo_test_": 30, "duffel_test_": 30, "duffel_live_": 30,
    "EZAK": 40, "EZTK": 40, "FLWSECK_TEST-": 30, "FLWSECK-": 30, "FLWPUBK_TEST-": 30,
    "fio-u-": 40, "p8e-": 30, "sq0csp-": 30, "sq0atp-": 20, "EAAA": 50,
    "sk.eyJ": 40, "pk.eyJ": 40, "rk_live_": 20, "sk_live_": 20, "sk_test_": 20,
    "rk_test_": 20, "whsec_": 24, "pk_live_": 20, "SG.": 40, "shpat_": 32, "shpca_": 32,
    "shppa_": 32, "shpss_": 32, "xoxb-": 20, "xoxp-": 20, "xoxa-": 20, "xoxs-": 20,
    "xoxr-": 20, "xoxo-": 20, "xoxe.": 20, "xoxe-": 20, "xapp-": 20, "sl.": 100,
    "tfp_": 40, "pat-na1-": 30, "pat-eu1-": 30, "ctp_": 30, "zpka_": 30,
    "SWMTKN-1-": 60, "cio": 32,
}  # fmt: skip


def prefix_pattern() -> str:
    alternatives = [
        rf"{re.escape(prefix)}{_BODY}{{{length},}}"
        for prefix, length in sorted(PREFIXES.items(), key=lambda kv: -len(kv[0]))
    ]
    return r"(?<![A-Za-z0-9])(?:" + "|".join(alternatives) + ")"


_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

# "password" in other languages people write tickets and chats in (detect-secrets' keyword
# rule lists contraseña; German, French, Portuguese, Dutch, Polish, Russian, Chinese,
# Japanese, Czech, Swedish and Turkish forms added; Italian says "password").
INTL_PASSWORD = (
    r"passwort|kennwort|mot[ _-]de[ _-]passe|contrase(?:ñ|n)a|senha|wachtwoord|has(?:ł|l)o|"
    r"пароль|密码|密碼|パスワード|heslo|lösenord|(?<![a-z])(?:ş|s)ifre"
)
# Keys whose values are secrets (matched case-insensitively inside a longer key name).
SECRET_KEY_WORDS = (
    rf"{INTL_PASSWORD}|"
    r"passw(?:or)?d|passphrase|pass(?=$|[_.\-\"'\s:=])|(?<![a-z])pwd|(?<![a-z])pw(?![a-z])|"
    r"secret|token|api[_.\-]?key|apikey|access[_.\-]?key|private[_.\-]?key|priv[_.\-]?key|"
    r"auth[_.\-]?key|signing[_.\-]?key|encryption[_.\-]?key|enc[_.\-]?key|session[_.\-]?key|"
    r"master[_.\-]?key|license[_.\-]?key|secret[_.\-]?key|client[_.\-]?key|account[_.\-]?key|"
    r"app[_.\-]?key|credentials?|(?<![a-z])salt(?![a-z])|(?<![a-z])dsn(?![a-z])|"
    r"webhook[_.\-]?url|connection[_.\-]?string|conn[_.\-]?str|(?<![a-z])auth(?![a-z])|"
    r"_auth(?![a-z])|cookie|sas[_.\-]?url|(?<![a-z])key(?![a-z])"
)
# Key words whose values are redacted only when they look random (`cache_key = "user:42"`
# is not a secret, `MAPBOX_KEY=pk.…` is).
STRONG_WORDS = (
    rf"{INTL_PASSWORD}|"
    r"passw(?:or)?d|passphrase|pass(?![a-z])|(?<![a-z])pwd|(?<![a-z])pw(?![a-z])|secret|token|"
    r"api[_.\-]?key|apikey|access[_.\-]?key|private[_.\-]?key|priv[_.\-]?key|"
    r"auth[_.\-]?key|signing|encryption|enc[_.\-]?key|session[_.\-]?key|master[_.\-]?key|"
    r"license[_.\-]?key|webhook[_.\-]?url|connection[_.\-]?string|conn[_.\-]?str"
)
STRONG_KEY = re.compile(rf"(?i){STRONG_WORDS}")
NOT_SECRET_KEY_SUFFIX = re.compile(
    r"(?i)[_.\-](?:id|ids|name|names|file|path|dir|url|uri|endpoint|env|var|length|len|type|"
    r"field|header|hash|hashed|policy|min|max|count|ttl|expiry|expires|expires_at|format|"
    r"prefix|scope|scopes|kind|source|store|manager|provider|service|mode|hint|label)$"
)
_KEY = rf"(?<![\w.\-$])(?P<key>(?:[A-Za-z_@$][\w.\-]*?)?(?:{SECRET_KEY_WORDS})[\w.\-]*)"
_VALUE = r"(?P<q>[\"'`]?)(?P<s>(?<=[\"'`])[^\"'`\n]+|(?<![\"'`])[^\s\"'`,;)}\]<>]+)"
# key = value, key: value, "key": "value", KEY=value, key => value, key := value
ASSIGNMENT = re.compile(
    rf"(?i){_KEY}[\"'`]?\]?(?:\s*(?:=>|:=|\?=|=|:|：)\s*|\s+(?:to|is|of|ist|lautet|est|es|é|è)\s+)"
    rf"{_VALUE}"
)

# Values that are not secrets even when assigned to a secret-sounding key.
NOT_SECRET_VALUES = {
    "none", "null", "nil", "true", "false", "required", "optional", "str", "string",
    "bytes", "int", "bool", "secret", "password", "token", "undefined", "empty",
    "redacted", "masked", "hidden", "changeme_in_env", "os", "env", "self", "this",
    "yes", "no", "off", "on", "text", "any", "object", "number", "boolean", "sensitive",
}  # fmt: skip
INDIRECT_VALUE = re.compile(
    r"""(?ix)^(?:
      \$\{?[A-Za-z_]            # $VAR, ${VAR}
    | \$\(|`                   # $(command), `command`
    | %\(?[A-Za-z_]            # %(name)s, %VAR%
    | \{\{                     # {{ template }}
    | <[^>]*>?$                # <placeholder>
    | [\w.\[\]'"]*\(           # a call: bcrypt.hashpw(, os.getenv(, getpass(
    | (?:os\.environ|process\.env|ENV\[|env\.|settings\.|config\.|cfg\.|self\.|args\.|
         request\.|params\.|options\.|opts\.|secrets\.|vars\.|context\.|ctx\.|
         System\.getenv|import\.meta\.env|Deno\.env)
    | (?:x{3,}|\*{3,}|\.{3}|…|_{3,}|-{3,})
    | \[REDACTED\]
    )"""
)
# An unquoted value made of a plain lowercase word and followed by more words is prose
# ("password: never commit it"), not a credential.
PROSE_AFTER = re.compile(r"[ \t]+[A-Za-z]")

# `Authorization: Bearer abc…`, `-H 'X-Auth-Token: …'`
AUTH_HEADER = re.compile(
    r"(?i)\b(?:proxy-)?authorization\s*[:=]\s*[\"']?"
    r"(?:(?:basic|bearer|token|digest|negotiate|apikey|sso-key|key|otp)\s+)?(?P<s>[^\s\"',;]{8,})"
)
BEARER = re.compile(r"(?i)\bbearer\s+(?P<s>[A-Za-z0-9\-._~+/]{16,}=*)")
BASIC = re.compile(r"(?i)\bbasic\s+(?P<s>[A-Za-z0-9+/]{8,}={0,2})")

# Credentials in URLs: scheme://user:password@host, scheme://:password@host,
# scheme://longtoken@host (Sentry DSNs, git over https with a token). The user name or the
# password may hold a raw `@`, `?` or `#` (`redis://:p@ss@cache`, `pg://app:Xy7?q#z@db`): the
# userinfo runs to the LAST `@` before a `/` or a blank. Only a host followed by its query is
# not userinfo (`http://host?to=a@b.com`, `http://localhost:8080?email=a@b.com`).
_URL_CHARS = r"[^\s/\"'<>]"
_HOST_THEN_QUERY = r"(?![^\s/?#:@\"'<>]*(?::\d+)?[?#][^\s/@\"'<>]*=)"
URL_CREDENTIALS = re.compile(
    rf"(?i)(?<![a-z0-9+.\-])[a-z][a-z0-9+.\-]{{0,30}}://{_HOST_THEN_QUERY}"
    rf"(?P<s>{_URL_CHARS}*:{_URL_CHARS}+|[^\s/?#:@\"'<>]{{16,}})@"
)

_ARG = r"""(?:"[^"\n]*"|'[^'\n]*'|[^\s"';|&]+)"""
CLI_PATTERNS = [
    # mysql -pPASSWORD (attached), mysqldump, mariadb, mysqladmin
    re.compile(rf"(?i)\b(?:mysql\w*|mariadb\w*)\b[^\n|;&]*?\s-p(?P<s>{_ARG})"),
    # sshpass -p PASSWORD, docker/podman/helm/oras login -p PASSWORD
    re.compile(rf"(?i)\bsshpass\s+-p\s*(?P<s>{_ARG})"),
    re.compile(rf"(?i)\blogin\b[^\n|;&]*?\s-p\s+(?P<s>{_ARG})"),
    # htpasswd -b FILE USER PASSWORD, htpasswd -nb USER PASSWORD
    re.compile(rf"\bhtpasswd\s+-[a-zA-Z]*n[a-zA-Z]*\s+{_ARG}\s+(?P<s>{_ARG})"),
    re.compile(rf"\bhtpasswd\s+-[a-zA-Z]*b[a-zA-Z]*\s+{_ARG}\s+{_ARG}\s+(?P<s>{_ARG})"),
    # --password VALUE, --api-key=VALUE, --client-secret VALUE, --token VALUE
    re.compile(rf"(?i)(?<![\w-])--?[\w-]*(?:{SECRET_KEY_WORDS})[\w-]*(?:=|\s+)(?!-)(?P<s>{_ARG})"),
    # a default in a shell/compose lookup: ${DB_PASSWORD:-value}, ${API_TOKEN=value}
    re.compile(rf"(?i)\$\{{\w*(?:{SECRET_KEY_WORDS})\w*:?[-=](?P<s>[^}}\s]+)\}}"),
    # SQL: IDENTIFIED BY 'pw', PASSWORD 'pw'
    re.compile(r"(?i)\b(?:identified\s+by|with\s+password|password)\s+(?P<s>'[^'\n]+')"),
    # .netrc: machine HOST login USER password PW
    re.compile(
        rf"(?i)\b(?:machine\s+\S+|default)(?:\s+(?:login|account|port)\s+\S+)*"
        rf"\s+password\s+(?P<s>{_ARG})"
    ),
]

_QUOTED = r"""(?:"[^"\n]+"|'[^'\n]+')"""
_CMD = r"[^\n|;&]*?\s"  # the rest of the same command, up to the flag
_SECRET_NAME = rf"[\w.\-]*(?:{STRONG_WORDS})[\w.\-]*"
# Tools whose password flags are their own (each from the tool's manual).
COMMAND_PATTERNS = [
    re.compile(rf"\bredis-cli\b{_CMD}-a\s+(?P<s>{_ARG})"),
    re.compile(rf"\bopenssl\b{_CMD}-(?:k|kfile|pass(?:in|out|word)?)\s+(?:pass:)?(?P<s>{_ARG})"),
    re.compile(rf"\b(?:zip|unzip|zipcloak|funzip)\b{_CMD}-P\s+(?P<s>{_ARG})"),
    re.compile(rf"\b(?:7z[ar]?|7za|unrar|rar)\b{_CMD}-p(?P<s>{_ARG})"),
    re.compile(rf"\bssh-keygen\b{_CMD}-[NP]\s+(?P<s>{_ARG})"),
    re.compile(rf"\bldap\w+\b{_CMD}-w\s+(?P<s>{_ARG})"),
    re.compile(rf"\b(?:sqlcmd|bcp|osql|isql)\b{_CMD}-P\s*(?P<s>{_ARG})"),
    re.compile(rf"\bmongo\w*\b{_CMD}-p\s+(?P<s>{_ARG})"),
    re.compile(rf"\bmysqladmin\b{_CMD}password\s+(?P<s>{_ARG})"),
    re.compile(rf"(?i)\bnet\s+use\b{_CMD}/user:\S+\s+(?P<s>{_ARG})"),
    re.compile(rf"\bcargo\s+login\s+(?P<s>{_ARG})"),
    re.compile(rf"\bpoetry\s+config\s+http-basic\.\S+\s+{_ARG}\s+(?P<s>{_ARG})"),
    re.compile(rf"\bsecret\s+set\s+\S+{_CMD}(?:--body|-b)[\s=]+(?P<s>{_ARG})"),
    # npm/yarn/aws/pip/git `config set KEY VALUE` with a secret KEY
    re.compile(
        rf"(?i)\bconfig(?:ure)?\s+(?:set\s+)?(?:--?\S+\s+)*\S*?(?:{STRONG_WORDS})[\w.\-]*\s+"
        rf"(?P<s>{_ARG})"
    ),
    # Dockerfile `ENV KEY VALUE`, `setx KEY VALUE`, fish `set -gx KEY VALUE`
    re.compile(rf"(?:\bENV|(?i:\bsetx)|\bset\s+-[gxUlu]+)\s+(?i:{_SECRET_NAME})\s+(?P<s>{_ARG})"),
    # a secret piped into a command that reads it from stdin
    re.compile(
        rf"\b(?:echo|printf)(?:\s+-\w+)*(?:\s+'%s(?:\\n)?'|\s+\"%s(?:\\n)?\")?\s+(?P<s>{_ARG})\s*\|"
        r"[^\n]*?(?:--password-stdin|\bsudo\s+-\w*S|passwd\s+--stdin|\bchpasswd\b|--with-token)"
    ),
    # getenv("API_KEY", "default"), .get("password", "x"), ENV.fetch("TOKEN", "x")
    re.compile(
        rf"(?i)\b(?:getenv|get|fetch|env)\(\s*[\"'](?:{_SECRET_NAME})[\"']\s*,\s*(?P<s>{_QUOTED})"
    ),
    re.compile(rf"(?i)\benv\.{_SECRET_NAME}\s*(?:\|\||\?\?|\bor\b)\s*(?P<s>{_QUOTED})"),
    # positional credentials: auth=("user", "pw"), HTTPBasicAuth("u", "pw"), NetworkCredential
    re.compile(
        rf"(?i)(?:\b(?:basic_?)?auth\s*=\s*[(\[]|\b\w*(?:BasicAuth|Credentials?|"
        rf"PasswordAuthentication|UsernamePassword\w*)\()\s*{_QUOTED}\s*,\s*(?P<s>{_QUOTED})"
    ),
    # YAML block scalars: `password: >-` or `|` with the value on the next line (or on the
    # same line, once a renderer has joined the lines)
    re.compile(
        rf"(?i)(?<![\w.\-]){_SECRET_NAME}[\"']?:[ \t]*[|>][+-]?\d?(?:[ \t]*\n[ \t]+|[ \t]+)"
        rf"(?P<s>[^\s#][^\n]*)"
    ),
]
# A name/value pair naming a secret: Kubernetes env (`- name: DB_PASSWORD` / `value: …`),
# ECS and docker inspect JSON, .NET appSettings (`<add key="ApiKey" value="…"/>`).
NAMED_VALUE = re.compile(
    rf"(?i)\b(?:name|key)[\"']?\s*[:=]\s*[\"']?(?P<key>{_SECRET_NAME})[\"']?[ \t,;]*(?:\n[ \t]*)?"
    rf"[\"']?value[\"']?\s*[:=]\s*(?P<q>[\"']?)(?P<s>(?<=[\"'])[^\"'\n]+|(?<![\"'])[^\s\"',;}}]+)"
)
# <password>…</password>, <apiKey>…</apiKey> (Maven settings.xml, NuGet.config, pom.xml)
XML_ELEMENT = re.compile(
    rf"(?im)<(?P<tag>(?:[\w.\-]+:)?[\w.\-]*?(?:{STRONG_WORDS}))>(?P<s>[^<\n]{{4,}})(?:</(?P=tag)>|$)"
)
# prose: "user admin, password Xy7…", "passphrase: …" without a separator
PROSE_PASSWORD = re.compile(
    rf"(?i)\b(?:password|passwd|passphrase|pwd|{INTL_PASSWORD})\s+(?P<s>[^\s,;.]{{8,}})"
)
_PW_WORD = rf"(?:password|passwd|passphrase|pwd|{INTL_PASSWORD})"
_USER_WORD = (
    r"(?:user(?:[\s_-]?name)?|login|account|benutzer(?:name)?|nutzer(?:name)?|konto"
    r"|utilisateur|identifiant|compte|usuario|usuário|cuenta)"
)
_FOR = r"(?:for|für|pour|para|de)[^\S\n]+(?:(?:the|den|die|das|le|la|l'|el)[^\S\n]+)?"
_PROSE_VALUE = r"(?P<s>[^\s,;\"'`]{3,63}[^\s,;\"'`.!?)])(?=[\s,;.!?)\"'`]|$)"
# A quoted value after a password word: `password "hunter2"`, `passwd 'two words'`,
# `password='x y'`. With no `:`/`=`/"is" before it, the value must look picked (scrub.py).
QUOTED_PASSWORD = re.compile(
    rf"(?i)\b{_PW_WORD}(?P<sep>[^\S\n]*[:=][^\S\n]*|[^\S\n]+(?:is|ist|est|es)[^\S\n]+|[^\S\n]+)"
    r"(?P<s>\"[^\"\n]{1,64}\"|'[^'\n]{1,64}')"
)
# Reversed order: "password X for user Y", "use password X for the admin account",
# "Passwort X für Benutzer Y". The value must look picked (scrub.py).
REVERSED_PAIR = re.compile(
    rf"(?i)\b{_PW_WORD}(?:[^\S\n]*[:=][^\S\n]*|[^\S\n]+){_PROSE_VALUE}[^\S\n]+{_FOR}"
    rf"(?:{_USER_WORD}[^\S\n]+[\w.@+\-]+|[\w.@+\-]+[^\S\n]+{_USER_WORD})"
)
# "the password for user admin is X", "Das Passwort für Benutzer admin ist X".
PASSWORD_FOR_USER = re.compile(
    rf"(?i)\b{_PW_WORD}[^\S\n]+{_FOR}(?:{_USER_WORD}[^\S\n]+)?[\w.@+\-]{{1,64}}"
    rf"(?:[^\S\n]+{_USER_WORD})?(?:[^\S\n]*[:=][^\S\n]*|[^\S\n]+(?:is|ist|lautet|est|es|é)"
    rf"[^\S\n]+){_PROSE_VALUE}"
)
# `creds: admin/hunter2`, `credentials: ops/winter19` (no blanks around the slash).
CREDS_SLASH = re.compile(
    r"(?i)(?<![\w/.\-])(?:creds?|credentials|zugangsdaten|identifiants|credenciales)"
    r"[^\S\n]*[:=][^\S\n]*(?P<user>[\w.@+\-]{1,64})/"
    r"(?P<s>[^\s/,;\"'`]{1,63}?)(?=[.!?)]?(?:[\s,;\"'`]|$))"
)
# prose credential pairs: a user word, the name, then a password word or a slash, then the
# password: "login: admin / hunter2", "user admin password hunter2", "username: ci, pass:
# …", "log in as ops / …", "creds for the test db are app / …". The value must look picked
# (scrub.py, _picked_password), so "user admin password policy" and "log in as admin /
# root" stay prose.
_PAIR_USER = (
    r"(?:user(?:[\s_-]?name)?|login|log[\s-]?in\s+as|sign(?:ed)?[\s-]?in\s+as|account"
    r"|benutzer(?:name)?|nutzer(?:name)?|utilisateur|identifiant|usuario|usuário"
    r"|creds?\b[^\n/:]{0,40}?\b(?:are|is)|(?:creds?|credentials)(?=[^\S\n]*[:=]))"
)
# The password may start the next line ("user admin\npassword hunter2").
PROSE_PAIR = re.compile(
    rf"(?i)(?<![\w/.\-])(?P<word>{_PAIR_USER})(?P<lead>[^\S\n]*[:=][^\S\n]*|[^\S\n]+)"
    r"(?P<user>[\w.@+\-]{1,64}?)[^\S\n]*(?:\n[^\S\n]*)?"
    r"(?:[,;][^\S\n]*|(?:and|with|und|mit|et|avec|y|con)[^\S\n]+)?"
    r"(?:(?P<slash>/(?=[^\S\n])|(?<=[^\S\n])/)|(?<=[\s])"
    rf"(?P<pw>password|passwd|passphrase|pass|pwd|pw|{INTL_PASSWORD})"
    r"(?P<pwsep>[^\S\n]*[:=][^\S\n]*|[^\S\n]+))"
    r"[^\S\n]*(?P<s>[^\s,;\"'`]{3,63}[^\s,;\"'`.!?)])(?=[\s,;.!?)\"'`]|$)"
)
# "user X / Y" with nothing between the user word and X (no colon, no "as") is as often a
# pair of nouns ("user input / Output2", "login flow / OAuth2"): there X must look like an
# account: one of these names, or a name with a digit, _ . @ or - in it (scrub.py).
PAIR_BARE_WORD = re.compile(r"(?i)user(?:[\s_-]?name)?|login|account")
ACCOUNT_NAMES = {
    "admin", "administrator", "root", "ubuntu", "debian", "centos", "fedora", "ec2-user",
    "postgres", "mysql", "oracle", "sa", "deploy", "deployer", "ci", "jenkins", "git",
    "gitlab", "guest", "demo", "ops", "dev", "devops", "www-data", "pi", "vagrant", "app",
    "backup", "reviewer", "qa", "tester", "service", "svc", "sysadmin", "superuser", "operator",
    "elastic", "kibana", "grafana", "rabbitmq", "redis", "mongo", "docker", "ansible", "ftp",
}  # fmt: skip
# A figure, not a picked password: 2.5s, 300ms, 10GiB, 5GB, 80%, USD100, EUR50, UID0, PID42.
FIGURE_VALUE = re.compile(
    r"(?i)\d+(?:[.,]\d+)?(?:[kmgtpe]i?b|b|bytes?|[mun\u00b5]?s|sec|min|h|hrs?|d|days?|x|%|px"
    r"|r?em|pt|[kmg]?hz|fps|rpm|°?[cf]|k)|[$\u20ac\u00a3\u00a5]\d[\d.,]*"
    r"|(?:usd|eur|gbp|jpy|chf|cad|aud|cny|inr|btc|eth|uid|gid|pid)\d+(?:[.,]\d+)?"
)
# `pass` as a verb: "pass --force2 to overwrite", "pass retries=3", "pass test_login2 as the hook".
PASS_VERB_VALUE = re.compile(r"-|[^=]+=|[a-z][a-z0-9]*(?:_[a-z0-9]+)+$")
PAIR_WORDS = ("user", "login", "log in", "log-in", "sign in", "sign-in", "signed in", "account",
              "cred", "benutzer", "nutzer", "utilisateur", "identifiant", "usuario",
              "usuário")  # fmt: skip
# Any of these in a text: the password-word rules run (QUOTED_PASSWORD and the others).
PASSWORD_WORDS = ("pass", "pwd", "kennwort", "contrase", "senha", "wachtwoord", "hasło",
                  "haslo", "cred", "zugangsdaten", "identifiants", "пароль", "密码", "密碼",
                  "パスワード", "heslo", "lösenord", "şifre", "sifre")  # fmt: skip
# Go's MySQL driver DSN: user:password@tcp(host:port)/db
GO_DSN = re.compile(r"(?<![\w/:@.\-])[\w.\-]+:(?P<s>[^\s@/:\"']{4,})@(?:tcp|unix|udp)\(")

# curl -u user:password, -uuser:password, --user=, --proxy-user, smbclient -U user%password
# (user:group after `docker run -u` is not a credential: see scrub.py).
USER_FLAG = re.compile(
    r"(?:(?<=\s)|^)(?:--user|--proxy-user|-u|-U)(?:[\s=]+|(?=[A-Za-z0-9_\"']))"
    r"(?P<s>(?P<q>[\"'])?(?P<user>[A-Za-z0-9_.@+\-][^\s:%\"']*)[:%]"
    r"(?P<pw>(?(q)[^\"'\n]+|[^\s\"';|&]+)))"
)
USER_GROUP_COMMAND = re.compile(
    r"\b(?:docker|podman|nerdctl|buildah)\s+(?:container\s+)?(?:run|exec|create)\b[^\n|;&]*$"
)
# ~/.pgpass: hostname:port:database:username:password, one a line
PGPASS = re.compile(
    r"(?m)^(?P<host>\*|(?=[\w.\-]*[A-Za-z])[A-Za-z0-9_\-][A-Za-z0-9_.\-]*):(?:\d{1,5}|\*):[^:\s]+:"
    r"[^:\s]+:(?P<s>\S+)$"
)
# A lone base64 run that may hide `user:password` or a whole config (decoded and scanned).
HEX_RUN = re.compile(r"(?<![0-9A-Fa-f])(?P<s>(?:[0-9A-Fa-f]{2}){12,})(?![0-9A-Fa-f])")
BASE64_RUN = re.compile(r"(?<![\w+/=\-])(?P<s>[A-Za-z0-9+/]{12,}={0,2})(?![\w+/=\-])")

# Formats with structure beyond a prefix.
STRUCTURED = [
    re.compile(
        r"-----BEGIN[ A-Z0-9_]*?PRIVATE KEY(?: BLOCK)?-----.*?"
        r"(?:-----END[ A-Z0-9_]*?PRIVATE KEY(?: BLOCK)?-----|\Z)",
        re.S,
    ),
    re.compile(r"(?s)Private-Lines:\s*\d+.*?(?:Private-MAC:\s*\S+|\Z)"),  # PuTTY
    re.compile(
        r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)"
        r"[A-Z0-9]{16}(?![A-Z0-9])"
    ),
    re.compile(r"\beyJ[\w-]{6,}\.[\w-]{6,}\.[\w-]{8,}"),  # JWT (also JWE heads)
    re.compile(r"(?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/[\w/]+"),
    re.compile(  # starts only where a name starts: a scan from inside every run is quadratic
        r"(?i)(?<![\w.-])(?:https?://)?(?:[\w-]+\.){0,4}discord(?:app)?\.com/api/webhooks/\d+"
        r"(?:/[\w-]*)?"
    ),
    re.compile(r"(?i)(?<![\w.-])(?:https?://)?[\w.-]*webhook\.office\.com/webhookb2/\S+"),
    re.compile(r"(?i)(?:https?://)?hooks\.zapier\.com/hooks/catch/[\w/]+"),
    re.compile(r"(?<!\d)\d{8,10}:AA[\w-]{30,40}"),  # Telegram
    re.compile(r"(?<![\w-])[MNO][\w-]{23,25}\.[\w-]{6}\.[\w-]{27,40}"),  # Discord bot
    re.compile(r"(?<![0-9a-f])[0-9a-f]{32}-us\d{1,2}(?!\d)"),  # Mailchimp
    re.compile(r"(?<![\w-])key-[0-9a-f]{32}(?![0-9a-f])"),  # Mailgun
    re.compile(r"(?<![A-Za-z0-9])(?:AC|SK)[0-9a-f]{32}(?![0-9a-f])"),  # Twilio
    re.compile(
        r"\bA3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}"
        r"(?:-[A-Z0-9]{5})?"
    ),  # 1Password secret key
    re.compile(r"(?<![\w~.])[\w~.]{3}\dQ~[\w~.\-]{31,34}"),  # Azure AD client secret
    re.compile(r"\b[A-Za-z0-9]{14}\.atlasv1\.[\w=\-]{60,}"),  # Terraform Cloud
    re.compile(
        r"(?i)(?<![\w-])(?:AccountKey|SharedAccessKey|SharedAccessSignature|"
        r"Password|Pwd|sig|x-amz-signature|x-goog-signature)=(?P<s>[^;&\s\"'<>]+)"
    ),
    re.compile(r"\bEAA[A-Za-z0-9]{30,}"),  # Facebook / Meta access tokens
    re.compile(r"\bA{20,24}[A-Za-z0-9%]{40,}"),  # Twitter / X bearer tokens
    re.compile(r"\bAPI-[A-Z0-9]{24,32}\b"),  # Octopus Deploy
    re.compile(rf"\b(?:api|sdk|mob)-{_UUID}"),  # LaunchDarkly
    re.compile(rf"\baccess-(?:sandbox|development|production)-{_UUID}"),  # Plaid
    re.compile(r"(?<![A-Za-z0-9])secret_[A-Za-z0-9]{43}(?![A-Za-z0-9])"),  # Notion (legacy)
    re.compile(r"(?<![A-Za-z0-9])pat\.[A-Za-z0-9_-]{20,24}\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{20}"),
    re.compile(r"(?<![A-Za-z0-9])b_[A-Za-z0-9=_\-]{44}(?![A-Za-z0-9])"),  # Beamer
    re.compile(r"\bscw[A-Z0-9]{17}\b"),  # Scaleway access key
    re.compile(r"(?<![A-Za-z0-9])2[A-Za-z0-9]{26}_[A-Za-z0-9]{21}(?![A-Za-z0-9])"),  # ngrok
    re.compile(r"(?<![A-Za-z0-9])prefect_api_[A-Za-z0-9]{20,}"),
    re.compile(r"\bsu[A-Za-z0-9]{12}:[A-Za-z0-9]{64}\b"),  # Sumo Logic id:key
    re.compile(
        r"(?i)\bBUNDLE_[A-Z0-9_]+__[A-Z0-9_]+[\"']?\]?\s*=\s*[\"']?(?P<s>[^\s\"']+)"
    ),  # Bundler credentials
    re.compile(r"(?<![A-Za-z0-9])(?:5[HJK]|[KL])[1-9A-HJ-NP-Za-km-z]{49,51}(?![A-Za-z0-9])"),
]

# A bare token: long, with upper and lower case letters and digits (not an identifier).
BARE_TOKEN = re.compile(r"(?<![\w/+=.~-])(?P<s>[A-Za-z0-9+/_\-.~]{24,}={0,2})(?![\w/+=~-])")
# Any `name = value` / `name: value` whose value is a long random-looking string.
ANY_ASSIGNMENT = re.compile(  # the key is looked behind, so that matches never eat it
    r"(?<=[\w.\-\"'`\]])\s*(?:=>|:=|=|:)\s*[\"'`]?(?P<s>[A-Za-z0-9+/_\-.~]{16,}(?:={1,2}(?![\w\"'`]))?)"
)
HEX_ONLY = re.compile(r"^(?:0x)?[0-9a-fA-F]+$")
UUID_ONLY = re.compile(rf"^{_UUID}$")
