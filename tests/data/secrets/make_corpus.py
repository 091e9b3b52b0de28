"""Generate the synthetic secret corpora: the right shape, random bodies, no real secret.

    python tests/data/secrets/make_corpus.py

Writes secrets-tune.jsonl and secrets-report.jsonl (same formats, different random bodies
and contexts, and a few shapes of each split's own; thresholds are tuned on the first,
figures reported on the second). Each
line: {"provider", "format", "source", "text", "secret"}: `secret` is the part of `text`
that must not survive scrubbing.

Formats are written from each provider's documentation of its key format, as collected in
the rule sets of gitleaks (config/gitleaks.toml, one rule per provider) and detect-secrets
(detect_secrets/plugins/*.py); `source` names where the format is documented.
"""

# ruff: noqa: E501  (the format tables read best one provider a line)
from __future__ import annotations

import base64
import json
import random
import re
import string
from pathlib import Path

HERE = Path(__file__).parent
GITLEAKS = "gitleaks config/gitleaks.toml rule"
DETECT = "detect-secrets plugin"

_CHARSETS = {
    "a": string.ascii_letters + string.digits,
    "l": string.ascii_lowercase + string.digits,
    "u": string.ascii_uppercase + string.digits,
    "h": "0123456789abcdef",
    "H": "0123456789ABCDEF",
    "d": string.digits,
    "b": string.ascii_letters + string.digits + "+/",
    "w": string.ascii_letters + string.digits + "_-",
    "L": string.ascii_lowercase,
    "B": "023456789acdefghjklmnpqrstuvwxyz".upper(),  # bech32 (age keys)
    "5": "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz",  # base58
}


_PLACEHOLDER = r"\{(?:uuid|basic|pem64|[a-zA-Z5]):?\d*\}"


def _encoded(kind: str, n: int, rng: random.Random) -> str:
    """`basic`: base64 of `user:password` (RFC 7617, without its header); `pem64`: a private
    key file as `base64` (GNU coreutils) writes it, wrapped at 76 columns."""
    body = "".join(rng.choice(_CHARSETS["a"]) for _ in range(n))
    if kind == "basic":
        return base64.b64encode(f"deploy:{body}".encode()).decode()
    pem = f"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA{body}\n"
    pem += "-----END OPENSSH PRIVATE KEY-----\n"
    flat = base64.b64encode(pem.encode()).decode()
    return "\n".join(flat[i : i + 76] for i in range(0, len(flat), 76))


# `{p:N}`: a password a person picked (a word and digits, N characters at least), the kind
# written in chat and tickets ("login: admin / hunter2").
_PICKED_WORDS = ["hunter", "dragon", "sunshine", "monkey", "shadow", "falcon", "summer",
                 "winter", "letmein", "trustno"]  # fmt: skip


def fill(template: str, rng: random.Random) -> str:
    def one(match: re.Match[str]) -> str:
        kind, n = match.group(1), match.group(2)
        if kind in ("basic", "pem64"):
            return _encoded(kind, int(n), rng)
        if kind == "p":
            word = rng.choice(_PICKED_WORDS)
            return word + "".join(
                rng.choice(string.digits) for _ in range(max(1, int(n) - len(word)))
            )
        if kind == "uuid":
            return "-".join(
                "".join(rng.choice(_CHARSETS["h"]) for _ in range(k)) for k in (8, 4, 4, 4, 12)
            )
        chars = _CHARSETS[kind]
        body = "".join(rng.choice(chars) for _ in range(int(n)))
        if kind in "abw" and len(body) >= 8:  # make sure all classes appear, as they do
            body = rng.choice(string.ascii_uppercase) + rng.choice(string.digits) + body[2:]
        return body

    return re.sub(r"\{(uuid|basic|pem64|[a-zA-Z5]):?(\d*)\}", one, template)


# (provider, template of the secret, env/config name it usually lives under, source)
# fmt: off
TOKENS: list[tuple[str, str, str, str]] = [
    ("aws-access-key-id", "AKIA{u:16}", "AWS_ACCESS_KEY_ID", f"{GITLEAKS} aws-access-token"),
    ("aws-sts-key-id", "ASIA{u:16}", "AWS_ACCESS_KEY_ID", f"{GITLEAKS} aws-access-token"),
    ("aws-secret-access-key", "{b:40}", "AWS_SECRET_ACCESS_KEY", f"{DETECT} aws.py"),
    ("github-pat", "ghp_{a:36}", "GITHUB_TOKEN", f"{GITLEAKS} github-pat"),
    ("github-oauth", "gho_{a:36}", "GH_TOKEN", f"{GITLEAKS} github-oauth"),
    ("github-app-user", "ghu_{a:36}", "GITHUB_TOKEN", f"{GITLEAKS} github-app-token"),
    ("github-app-server", "ghs_{a:36}", "GITHUB_TOKEN", f"{GITLEAKS} github-app-token"),
    ("github-refresh", "ghr_{a:36}", "GITHUB_REFRESH_TOKEN", f"{GITLEAKS} github-refresh-token"),
    ("github-fine-grained", "github_pat_{a:22}_{a:59}", "GITHUB_TOKEN",
     f"{GITLEAKS} github-fine-grained-pat"),
    ("gitlab-pat", "glpat-{w:20}", "GITLAB_TOKEN", f"{GITLEAKS} gitlab-pat"),
    ("gitlab-pipeline-trigger", "glptt-{h:40}", "CI_TRIGGER", f"{GITLEAKS} gitlab-ptt"),
    ("gitlab-runner-registration", "GR1348941{w:20}", "REGISTRATION",
     f"{GITLEAKS} gitlab-rrt"),
    ("gitlab-deploy-token", "gldt-{w:20}", "DEPLOY", f"{DETECT} gitlab_token.py"),
    ("gitlab-feed-token", "glft-{w:20}", "FEED", f"{DETECT} gitlab_token.py"),
    ("gitlab-runner-auth", "glrt-{w:20}", "RUNNER", f"{DETECT} gitlab_token.py"),
    ("gitlab-oauth-secret", "gloas-{h:64}", "OAUTH", f"{DETECT} gitlab_token.py"),
    ("openai-project", "sk-proj-{w:48}", "OPENAI_API_KEY", f"{GITLEAKS} openai-api-key"),
    ("openai-legacy", "sk-{a:20}T3BlbkFJ{a:20}", "OPENAI_API_KEY", f"{DETECT} openai.py"),
    ("openai-service-account", "sk-svcacct-{w:48}", "OPENAI_API_KEY",
     f"{GITLEAKS} openai-api-key"),
    ("anthropic", "sk-ant-api03-{w:93}AA", "ANTHROPIC_API_KEY", f"{GITLEAKS} anthropic-api-key"),
    ("anthropic-admin", "sk-ant-admin01-{w:93}AA", "ANTHROPIC_ADMIN_KEY",
     f"{GITLEAKS} anthropic-admin-api-key"),
    ("openrouter", "sk-or-v1-{h:64}", "OPENROUTER_API_KEY", "openrouter.ai/docs api keys"),
    ("groq", "gsk_{a:52}", "GROQ_API_KEY", "console.groq.com/docs key format"),
    ("perplexity", "pplx-{a:48}", "PERPLEXITY_API_KEY", f"{GITLEAKS} perplexity-api-key"),
    ("huggingface", "hf_{a:34}", "HF_TOKEN", f"{GITLEAKS} huggingface-access-token"),
    ("huggingface-org", "api_org_{a:34}", "HF_ORG_TOKEN",
     f"{GITLEAKS} huggingface-organization-api-token"),
    ("replicate", "r8_{a:37}", "REPLICATE_API_TOKEN", "replicate.com/docs api tokens"),
    ("xai", "xai-{a:80}", "XAI_API_KEY", "docs.x.ai api keys"),
    ("nvidia", "nvapi-{w:64}", "NVIDIA_API_KEY", "build.nvidia.com api keys"),
    ("cohere", "{a:40}", "COHERE_API_KEY", f"{GITLEAKS} cohere-api-token"),
    ("mistral", "{a:32}", "MISTRAL_API_KEY", "docs.mistral.ai api keys"),
    ("google-api-key", "AIza{w:35}", "GOOGLE_API_KEY", f"{GITLEAKS} gcp-api-key"),
    ("google-oauth-client-secret", "GOCSPX-{w:28}", "GOOGLE_CLIENT_SECRET",
     "developers.google.com oauth client secret format"),
    ("google-oauth-access", "ya29.{w:120}", "GOOGLE_ACCESS_TOKEN", "google oauth2 access token"),
    ("slack-bot", "xoxb-{d:11}-{d:12}-{a:24}", "SLACK_BOT_TOKEN", f"{GITLEAKS} slack-bot-token"),
    ("slack-user", "xoxp-{d:11}-{d:11}-{d:12}-{h:32}", "SLACK_USER_TOKEN",
     f"{GITLEAKS} slack-user-token"),
    ("slack-app", "xapp-1-A{u:10}-{d:13}-{h:64}", "SLACK_APP_TOKEN",
     f"{GITLEAKS} slack-app-token"),
    ("slack-config", "xoxe.xoxp-1-{a:140}", "SLACK_CONFIG_TOKEN",
     f"{GITLEAKS} slack-config-access-token"),
    ("slack-config-refresh", "xoxe-1-{a:140}", "SLACK_REFRESH",
     f"{GITLEAKS} slack-config-refresh-token"),
    ("slack-legacy", "xoxs-{d:10}-{d:10}-{d:10}-{h:64}", "SLACK_LEGACY",
     f"{GITLEAKS} slack-legacy-token"),
    ("slack-webhook", "https://hooks.slack.com/services/T{u:8}/B{u:10}/{a:24}",
     "SLACK_WEBHOOK_URL", f"{GITLEAKS} slack-webhook-url"),
    ("slack-workflow-webhook", "https://hooks.slack.com/workflows/T{u:8}/A{u:10}/{d:18}/{a:24}",
     "SLACK_WORKFLOW", f"{GITLEAKS} slack-webhook-url"),
    ("discord-webhook", "https://discord.com/api/webhooks/{d:18}/{w:68}", "DISCORD_WEBHOOK",
     "discord.com/developers/docs/resources/webhook"),
    ("discord-bot", "M{w:25}.{w:6}.{w:38}", "DISCORD_BOT_TOKEN", f"{DETECT} discord.py"),
    ("telegram-bot", "{d:10}:AA{w:33}", "TELEGRAM_BOT_TOKEN", f"{DETECT} telegram_token.py"),
    ("teams-webhook",
     "https://contoso.webhook.office.com/webhookb2/{uuid}@{uuid}/IncomingWebhook/{h:32}/{uuid}",
     "TEAMS_WEBHOOK", f"{GITLEAKS} microsoft-teams-webhook"),
    ("zapier-webhook", "https://hooks.zapier.com/hooks/catch/{d:7}/{l:6}/", "ZAPIER_HOOK",
     f"{GITLEAKS} zapier-webhook-url"),
    ("stripe-secret", "sk_live_{a:99}", "STRIPE_SECRET_KEY", f"{GITLEAKS} stripe-access-token"),
    ("stripe-restricted", "rk_live_{a:24}", "STRIPE_KEY", f"{DETECT} stripe.py"),
    ("stripe-test", "sk_test_{a:24}", "STRIPE_TEST_KEY", f"{GITLEAKS} stripe-access-token"),
    ("stripe-webhook", "whsec_{a:32}", "STRIPE_WEBHOOK_SECRET", "stripe.com/docs/webhooks"),
    ("sendgrid", "SG.{w:22}.{w:43}", "SENDGRID_API_KEY", f"{DETECT} sendgrid.py"),
    ("twilio-api-key", "SK{h:32}", "TWILIO_API_KEY", f"{DETECT} twilio.py"),
    ("twilio-auth-token", "{h:32}", "TWILIO_AUTH_TOKEN", "twilio.com/docs/iam/api-keys"),
    ("mailgun-private", "key-{h:32}", "MAILGUN_API_KEY", f"{GITLEAKS} mailgun-private-api-token"),
    ("mailgun-signing", "{h:32}-{h:8}-{h:8}", "MAILGUN_SIGNING_KEY",
     f"{GITLEAKS} mailgun-signing-key"),
    ("mailchimp", "{h:32}-us{d:2}", "MAILCHIMP_API_KEY", f"{DETECT} mailchimp.py"),
    ("shopify-access", "shpat_{h:32}", "SHOPIFY_ACCESS_TOKEN", f"{GITLEAKS} shopify-access-token"),
    ("shopify-custom", "shpca_{h:32}", "SHOPIFY_TOKEN", f"{GITLEAKS} shopify-custom-access-token"),
    ("shopify-private", "shppa_{h:32}", "SHOPIFY_PRIVATE", f"{GITLEAKS} shopify-private-app"),
    ("shopify-shared-secret", "shpss_{h:32}", "SHOPIFY_SHARED_SECRET",
     f"{GITLEAKS} shopify-shared-secret"),
    ("pypi", "pypi-AgEIcHlwaS5vcmc{w:80}", "PYPI_TOKEN", f"{DETECT} pypi_token.py"),
    ("testpypi", "pypi-AgENdGVzdC5weXBpLm9yZw{w:80}", "TEST_PYPI_TOKEN",
     f"{DETECT} pypi_token.py"),
    ("npm", "npm_{a:36}", "NPM_TOKEN", f"{GITLEAKS} npm-access-token"),
    ("digitalocean-pat", "dop_v1_{h:64}", "DIGITALOCEAN_TOKEN", f"{GITLEAKS} digitalocean-pat"),
    ("digitalocean-oauth", "doo_v1_{h:64}", "DO_OAUTH", f"{GITLEAKS} digitalocean-access-token"),
    ("digitalocean-refresh", "dor_v1_{h:64}", "DO_REFRESH",
     f"{GITLEAKS} digitalocean-refresh-token"),
    ("databricks", "dapi{h:32}", "DATABRICKS_TOKEN", f"{GITLEAKS} databricks-api-token"),
    ("vault-service", "hvs.{w:90}", "VAULT_TOKEN", f"{GITLEAKS} vault-service-token"),
    ("vault-batch", "hvb.{w:138}", "VAULT_TOKEN", f"{GITLEAKS} vault-batch-token"),
    ("terraform-cloud", "{a:14}.atlasv1.{w:67}", "TFE_TOKEN", f"{GITLEAKS} hashicorp-tf-api-token"),
    ("heroku", "{uuid}", "HEROKU_API_KEY", f"{GITLEAKS} heroku-api-key"),
    ("heroku-v2", "HRKU-AA{w:58}", "HEROKU_API_KEY", f"{GITLEAKS} heroku-api-key-v2"),
    ("grafana-api-key", "eyJrIjoi{b:70}", "GRAFANA_API_KEY", f"{GITLEAKS} grafana-api-key"),
    ("grafana-cloud", "glc_{b:80}", "GRAFANA_CLOUD_TOKEN", f"{GITLEAKS} grafana-cloud-api-token"),
    ("grafana-service-account", "glsa_{a:32}_{h:8}", "GRAFANA_SA_TOKEN",
     f"{GITLEAKS} grafana-service-account-token"),
    ("azure-ad-client-secret", "{a:3}8Q~{w:34}", "AZURE_CLIENT_SECRET",
     f"{GITLEAKS} azure-ad-client-secret"),
    ("azure-devops-pat", "{l:52}", "AZURE_DEVOPS_PAT", "learn.microsoft.com azure devops pat"),
    ("sentry-user-token", "sntryu_{h:64}", "SENTRY_AUTH_TOKEN", f"{GITLEAKS} sentry-user-token"),
    ("sentry-org-token", "sntrys_eyJpYXQiO{b:120}", "SENTRY_AUTH_TOKEN",
     f"{GITLEAKS} sentry-org-token"),
    ("square-access", "EAAA{w:60}", "SQUARE_ACCESS_TOKEN", f"{GITLEAKS} square-access-token"),
    ("square-oauth-secret", "sq0csp-{w:43}", "SQUARE_OAUTH_SECRET", f"{DETECT} square_oauth.py"),
    ("square-app-token", "sq0atp-{w:22}", "SQUARE_APP_TOKEN", f"{GITLEAKS} square-access-token"),
    ("age-secret-key", "AGE-SECRET-KEY-1{B:58}", "AGE_KEY", f"{GITLEAKS} age-secret-key"),
    ("1password-secret-key", "A3-{u:6}-{u:11}-{u:5}-{u:5}-{u:5}", "OP_SECRET_KEY",
     f"{GITLEAKS} 1password-secret-key"),
    ("1password-service-account", "ops_eyJ{b:250}", "OP_SERVICE_ACCOUNT_TOKEN",
     f"{GITLEAKS} 1password-service-account-token"),
    ("atlassian", "ATATT3{w:186}", "JIRA_API_TOKEN", f"{GITLEAKS} atlassian-api-token"),
    ("bitbucket-app-password", "ATBB{a:32}", "BITBUCKET_APP_PASSWORD",
     "support.atlassian.com bitbucket app passwords"),
    ("linear", "lin_api_{a:40}", "LINEAR_API_KEY", f"{GITLEAKS} linear-api-key"),
    ("notion", "secret_{a:43}", "NOTION_TOKEN", "developers.notion.com authorization"),
    ("notion-v2", "ntn_{d:11}{a:35}", "NOTION_TOKEN", "developers.notion.com authorization"),
    ("postman", "PMAK-{h:24}-{h:34}", "POSTMAN_API_KEY", f"{GITLEAKS} postman-api-token"),
    ("figma", "figd_{w:40}", "FIGMA_TOKEN", "figma.com/developers/api access tokens"),
    ("doppler", "dp.pt.{a:43}", "DOPPLER_TOKEN", f"{GITLEAKS} doppler-api-token"),
    ("pulumi", "pul-{h:40}", "PULUMI_ACCESS_TOKEN", f"{GITLEAKS} pulumi-api-token"),
    ("flyio", "fo1_{w:43}", "FLY_API_TOKEN", f"{GITLEAKS} flyio-access-token"),
    ("netlify", "nfp_{a:36}", "NETLIFY_AUTH_TOKEN", f"{GITLEAKS} netlify-access-token"),
    ("vercel", "{a:24}", "VERCEL_TOKEN", "vercel.com/docs/rest-api authentication"),
    ("cloudflare-api-token", "{w:40}", "CLOUDFLARE_API_TOKEN", f"{GITLEAKS} cloudflare-api-key"),
    ("cloudflare-origin-ca", "v1.0-{h:24}-{h:146}", "CF_ORIGIN_CA_KEY",
     f"{GITLEAKS} cloudflare-origin-ca-key"),
    ("dynatrace", "dt0c01.{u:24}.{u:64}", "DT_API_TOKEN", f"{GITLEAKS} dynatrace-api-token"),
    ("newrelic-user", "NRAK-{u:27}", "NEW_RELIC_API_KEY", f"{GITLEAKS} new-relic-user-api-key"),
    ("newrelic-insert", "NRII-{w:32}", "NEW_RELIC_INSERT_KEY", f"{GITLEAKS} new-relic-insert-key"),
    ("newrelic-browser", "NRJS-{h:19}", "NEW_RELIC_BROWSER", f"{GITLEAKS} new-relic-browser-api-token"),
    ("datadog-api", "{h:32}", "DD_API_KEY", f"{GITLEAKS} datadog-access-token"),
    ("datadog-app", "{h:40}", "DD_APP_KEY", f"{GITLEAKS} datadog-access-token"),
    ("planetscale-password", "pscale_pw_{w:43}", "DATABASE_PASSWORD",
     f"{GITLEAKS} planetscale-password"),
    ("planetscale-token", "pscale_tkn_{w:43}", "PLANETSCALE_TOKEN", f"{GITLEAKS} planetscale-api-token"),
    ("planetscale-oauth", "pscale_oauth_{w:43}", "PLANETSCALE_OAUTH",
     f"{GITLEAKS} planetscale-oauth-token"),
    ("supabase", "sbp_{h:40}", "SUPABASE_ACCESS_TOKEN", "supabase.com/docs access tokens"),
    ("prefect", "pnu_{a:36}", "PREFECT_API_KEY", f"{GITLEAKS} prefect-api-token"),
    ("readme", "rdme_{l:70}", "README_API_KEY", f"{GITLEAKS} readme-api-token"),
    ("rubygems", "rubygems_{h:48}", "GEM_HOST_API_KEY", f"{GITLEAKS} rubygems-api-token"),
    ("nuget", "oy2{l:43}", "NUGET_API_KEY", f"{GITLEAKS} nuget-api-key"),
    ("docker-hub", "dckr_pat_{w:27}", "DOCKERHUB_TOKEN", "docs.docker.com access tokens"),
    ("adobe-client-secret", "p8e-{a:32}", "ADOBE_CLIENT_SECRET", f"{GITLEAKS} adobe-client-secret"),
    ("alibaba-access-key", "LTAI{a:20}", "ALIBABA_ACCESS_KEY_ID",
     f"{GITLEAKS} alibaba-access-key-id"),
    ("clojars", "CLOJARS_{l:60}", "CLOJARS_TOKEN", f"{GITLEAKS} clojars-api-token"),
    ("duffel", "duffel_test_{w:43}", "DUFFEL_TOKEN", f"{GITLEAKS} duffel-api-token"),
    ("dropbox-short-lived", "sl.{w:135}", "DROPBOX_TOKEN", f"{GITLEAKS} dropbox-short-lived-api-token"),
    ("easypost", "EZAK{a:54}", "EASYPOST_API_KEY", f"{GITLEAKS} easypost-api-token"),
    ("easypost-test", "EZTK{a:54}", "EASYPOST_TEST_KEY", f"{GITLEAKS} easypost-test-api-token"),
    ("flutterwave", "FLWSECK_TEST-{h:32}-X", "FLW_SECRET_KEY", f"{GITLEAKS} flutterwave-secret-key"),
    ("frameio", "fio-u-{w:64}", "FRAMEIO_TOKEN", f"{GITLEAKS} frameio-api-token"),
    ("gocardless", "live_{w:40}", "GOCARDLESS_ACCESS_TOKEN", f"{GITLEAKS} gocardless-api-token"),
    ("harness", "pat.{w:22}.{a:24}.{a:20}", "HARNESS_TOKEN", f"{GITLEAKS} harness-api-key"),
    ("mapbox", "sk.eyJ1Ijoi{w:50}.{w:22}", "MAPBOX_SECRET", f"{GITLEAKS} mapbox-api-token"),
    ("octopus-deploy", "API-{u:26}", "OCTOPUS_API_KEY", f"{GITLEAKS} octopus-deploy-api-key"),
    ("scalingo", "tk-us-{w:48}", "SCALINGO_TOKEN", f"{GITLEAKS} scalingo-api-token"),
    ("brevo", "xkeysib-{h:64}-{a:16}", "BREVO_API_KEY", f"{GITLEAKS} sendinblue-api-token"),
    ("shippo", "shippo_live_{h:40}", "SHIPPO_TOKEN", f"{GITLEAKS} shippo-api-token"),
    ("sidekiq", "{h:8}:{h:8}", "BUNDLE_ENTERPRISE__CONTRIBSYS__COM",
     f"{GITLEAKS} sidekiq-secret"),
    ("snyk", "{uuid}", "SNYK_TOKEN", f"{GITLEAKS} snyk-api-token"),
    ("typeform", "tfp_{w:44}_{w:14}", "TYPEFORM_TOKEN", f"{GITLEAKS} typeform-api-token"),
    ("yandex-api-key", "AQVN{w:35}", "YC_API_KEY", f"{GITLEAKS} yandex-api-key"),
    ("zendesk", "{a:40}", "ZENDESK_API_TOKEN", f"{GITLEAKS} zendesk-secret-key"),
    ("okta", "00{w:40}", "OKTA_API_TOKEN", f"{GITLEAKS} okta-access-token"),
    ("algolia", "{h:32}", "ALGOLIA_ADMIN_KEY", f"{GITLEAKS} algolia-api-key"),
    ("asana", "{h:32}", "ASANA_CLIENT_SECRET", f"{GITLEAKS} asana-client-secret"),
    ("beamer", "b_{w:44}", "BEAMER_API_KEY", f"{GITLEAKS} beamer-api-token"),
    ("contentful", "{w:43}", "CONTENTFUL_DELIVERY_TOKEN",
     f"{GITLEAKS} contentful-delivery-api-token"),
    ("hubspot", "pat-na1-{uuid}", "HUBSPOT_ACCESS_TOKEN", f"{GITLEAKS} hubspot-api-key"),
    ("launchdarkly", "api-{uuid}", "LAUNCHDARKLY_ACCESS_TOKEN",
     f"{GITLEAKS} launchdarkly-access-token"),
    ("openshift", "sha256~{w:43}", "OPENSHIFT_TOKEN", f"{GITLEAKS} openshift-user-token"),
    ("plaid", "access-sandbox-{uuid}", "PLAID_ACCESS_TOKEN", f"{GITLEAKS} plaid-api-token"),
    ("rapidapi", "{w:50}", "RAPIDAPI_KEY", f"{GITLEAKS} rapidapi-access-token"),
    ("travis-ci", "{a:22}", "TRAVIS_API_TOKEN", f"{GITLEAKS} travisci-access-token"),
    ("twitch", "{l:30}", "TWITCH_CLIENT_SECRET", f"{GITLEAKS} twitch-api-token"),
    ("twitter-bearer", "AAAAAAAAAAAAAAAAAAAAA{a:80}", "TWITTER_BEARER_TOKEN",
     f"{GITLEAKS} twitter-bearer-token"),
    ("twitter-api-secret", "{a:50}", "TWITTER_API_SECRET", f"{GITLEAKS} twitter-api-secret"),
    ("facebook", "EAACEdEose0cBA{a:100}", "FB_ACCESS_TOKEN", f"{GITLEAKS} facebook-access-token"),
    ("ngrok", "2{a:26}_{a:21}", "NGROK_AUTHTOKEN", "ngrok.com/docs agent authtoken"),
    ("infracost", "ico-{a:32}", "INFRACOST_API_KEY", f"{GITLEAKS} infracost-api-token"),
    ("artifactory-api", "AKCp{a:69}", "ARTIFACTORY_API_KEY", f"{DETECT} artifactory.py"),
    ("ibm-cloud-iam", "{w:44}", "IBM_CLOUD_API_KEY", f"{DETECT} ibm_cloud_iam.py"),
    ("ibm-cos-hmac", "{h:48}", "COS_HMAC_SECRET_ACCESS_KEY", f"{DETECT} ibm_cos_hmac.py"),
    ("softlayer", "{l:64}", "SOFTLAYER_API_KEY", f"{DETECT} softlayer.py"),
    ("cloudant", "{h:64}", "CLOUDANT_PASSWORD", f"{DETECT} cloudant.py"),
    ("jwt", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ{w:60}.{w:43}", "SESSION_JWT",
     f"{DETECT} jwt.py"),
    ("confluent", "{a:64}", "CONFLUENT_SECRET_KEY", f"{GITLEAKS} confluent-secret-key"),
    ("coinbase", "{w:64}", "COINBASE_ACCESS_TOKEN", f"{GITLEAKS} coinbase-access-token"),
    ("kraken", "{b:86}==", "KRAKEN_PRIVATE_KEY", f"{GITLEAKS} kraken-access-token"),
    ("etsy", "{l:24}", "ETSY_ACCESS_TOKEN", f"{GITLEAKS} etsy-access-token"),
    ("finicity", "{h:32}", "FINICITY_CLIENT_SECRET", f"{GITLEAKS} finicity-client-secret"),
    ("freshbooks", "{l:64}", "FRESHBOOKS_ACCESS_TOKEN", f"{GITLEAKS} freshbooks-access-token"),
    ("intercom", "{w:60}", "INTERCOM_ACCESS_TOKEN", f"{GITLEAKS} intercom-api-key"),
    ("lob", "live_{h:35}", "LOB_API_KEY", f"{GITLEAKS} lob-api-key"),
    ("mattermost", "{l:26}", "MATTERMOST_ACCESS_TOKEN", f"{GITLEAKS} mattermost-access-token"),
    ("messagebird", "{a:25}", "MESSAGEBIRD_API_TOKEN", f"{GITLEAKS} messagebird-api-token"),
    ("nytimes", "{w:32}", "NYTIMES_ACCESS_TOKEN", f"{GITLEAKS} nytimes-access-token"),
    ("sumologic", "{a:64}", "SUMO_ACCESS_KEY", f"{GITLEAKS} sumologic-access-token"),
    ("trello", "{a:32}", "TRELLO_ACCESS_TOKEN", f"{GITLEAKS} trello-access-token"),
    ("squarespace", "{uuid}", "SQUARESPACE_ACCESS_TOKEN", f"{GITLEAKS} squarespace-access-token"),
    ("gitter", "{w:40}", "GITTER_ACCESS_TOKEN", f"{GITLEAKS} gitter-access-token"),
    ("kucoin", "{h:24}", "KUCOIN_SECRET_KEY", f"{GITLEAKS} kucoin-secret-key"),
    ("bittrex", "{a:32}", "BITTREX_SECRET_KEY", f"{GITLEAKS} bittrex-secret-key"),
    ("jfrog", "{a:73}", "JFROG_API_KEY", f"{GITLEAKS} jfrog-api-key"),
    ("launchdarkly-sdk", "sdk-{uuid}", "LD_SDK_KEY", f"{GITLEAKS} launchdarkly-access-token"),
    ("django-secret-key", "django-insecure-{w:50}", "SECRET_KEY",
     "docs.djangoproject.com settings SECRET_KEY"),
    ("rails-secret-key-base", "{h:128}", "SECRET_KEY_BASE", "guides.rubyonrails.org security"),
    ("laravel-app-key", "base64:{b:43}=", "APP_KEY", "laravel.com/docs encryption"),
    ("flask-secret", "{h:48}", "FLASK_SECRET_KEY", "flask.palletsprojects.com config"),
    ("jwt-signing-secret", "{w:48}", "JWT_SECRET", "rfc7518 HMAC key length"),
    ("ethereum-private-key", "0x{h:64}", "ETH_PRIVATE_KEY", "ethereum.org accounts private keys"),
    ("bitcoin-wif", "5{5:50}", "BTC_WIF", "en.bitcoin.it Wallet import format"),
    ("webhook-signing-secret", "{a:40}", "WEBHOOK_SIGNING_SECRET", "generic webhook secret"),
    ("encryption-key", "{b:43}=", "ENCRYPTION_KEY", "AES-256 key in base64"),
]

# (provider, template of a whole line, the secret template inside it, source)
SHAPED: list[tuple[str, str, str]] = [
    ("private-key-rsa", "-----BEGIN RSA PRIVATE KEY-----\nMIIEow{b:60}\n{b:64}\n{b:40}==\n"
     "-----END RSA PRIVATE KEY-----", "rfc7468 / gitleaks private-key"),
    ("private-key-ec", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE{b:56}\n{b:44}\n"
     "-----END EC PRIVATE KEY-----", "rfc5915"),
    ("private-key-openssh", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA"
     "{b:46}\n{b:70}\n-----END OPENSSH PRIVATE KEY-----", "openssh PROTOCOL.key"),
    ("private-key-pkcs8", "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC{b:30}\n"
     "{b:64}\n-----END PRIVATE KEY-----", "rfc5208"),
    ("private-key-encrypted", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG{b:48}\n"
     "{b:64}\n-----END ENCRYPTED PRIVATE KEY-----", "rfc5958"),
    ("private-key-dsa", "-----BEGIN DSA PRIVATE KEY-----\nMIIBuwIBAAKBgQ{b:50}\n{b:64}\n"
     "-----END DSA PRIVATE KEY-----", "openssl dsa"),
    ("pgp-private-key", "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF{b:58}\n{b:64}\n={b:4}\n"
     "-----END PGP PRIVATE KEY BLOCK-----", "rfc4880 armor"),
    ("putty-private-key", "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: k\n"
     "Public-Lines: 1\nAAAAC3NzaC1lZDI1NTE5AAAAIG\nPrivate-Lines: 1\nAAAAI{b:43}\n"
     "Private-MAC: {h:64}", "putty documentation appendix C"),
    ("gcp-service-account",
     '{"type": "service_account", "project_id": "acme-prod", "private_key": '
     '"-----BEGIN PRIVATE KEY-----\\nMIIEvQ{b:60}\\n-----END PRIVATE KEY-----\\n"}',
     "cloud.google.com service account key file"),
    ("azure-storage-connection",
     "DefaultEndpointsProtocol=https;AccountName=acmestore;AccountKey={b:86}==;"
     "EndpointSuffix=core.windows.net", f"{DETECT} azure_storage_key.py"),
    ("azure-servicebus-connection",
     "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
     "SharedAccessKey={b:43}=", "learn.microsoft.com service bus SAS"),
    ("azure-sas-url", "https://acme.blob.core.windows.net/c?sv=2022-11-02&ss=b&srt=co&sp=rl"
     "&se=2030-01-01T00:00:00Z&sig={b:43}%3D", "learn.microsoft.com storage SAS"),
    ("sql-server-connection", "Server=tcp:db.example.net,1433;User ID=app;Password={a:16};",
     "learn.microsoft.com sql connection strings"),
    ("sentry-dsn", "https://{h:32}@o4504.ingest.sentry.io/4505123", "docs.sentry.io DSN"),
    ("postgres-url", "postgresql://app:{a:18}@db.internal:5432/shop", "postgresql libpq URI"),
    ("mysql-url", "mysql://root:{a:14}@127.0.0.1:3306/app", "mysql connector URI"),
    ("mongodb-srv-url", "mongodb+srv://admin:{a:20}@cluster0.ab1cd.mongodb.net/test",
     "mongodb connection string"),
    ("redis-url-password-only", "redis://:{a:16}@cache.internal:6379/0", "redis URI scheme"),
    ("amqp-url", "amqp://guest:{a:12}@rabbit:5672/", "rabbitmq uri spec"),
    ("git-https-token", "git clone https://x-access-token:ghs_{a:36}@github.com/acme/app.git",
     "docs.github.com app installation tokens"),
    ("gitlab-oauth2-url", "git clone https://oauth2:{w:20}@gitlab.com/acme/app.git",
     "docs.gitlab.com oauth2 clone"),
    ("ftp-url", "ftp://deploy:{a:12}@ftp.example.com/site", "rfc1738"),
    ("curl-basic-user", "curl -u deploy:{a:14} https://api.example.com/v1/items",
     "curl manual --user"),
    ("curl-user-long", "curl --user admin:{a:16} -X POST https://ci.example.com/job/build",
     "curl manual --user"),
    ("mysql-attached-password", "mysql -h db -u root -p{a:14} shop < dump.sql", "mysql manual -p"),
    ("mysqldump-password", "mysqldump -uadmin -p{a:12} --all-databases > all.sql",
     "mysql manual -p"),
    ("sshpass", "sshpass -p {a:12} ssh deploy@10.0.0.5 uptime", "sshpass manual"),
    ("htpasswd-batch", "htpasswd -b /etc/nginx/.htpasswd admin {a:12}", "apache htpasswd -b"),
    ("htpasswd-nb", "htpasswd -nb admin {a:12}", "apache htpasswd -nb"),
    ("docker-login", "docker login -u ci -p {a:20} registry.example.com", "docker login docs"),
    ("docker-login-stdin-flag", "podman login --password {a:18} --username ci quay.io",
     "podman-login manual"),
    ("smbclient", "smbclient //fs/share -U backup%{a:12}", "smbclient manual"),
    ("wget-password", "wget --http-user=ci --http-password={a:14} https://x.example.com/a.tgz",
     "wget manual"),
    ("netrc", "machine api.example.com login bob password {a:16}", "netrc(5)"),
    ("pgpassword-env", "PGPASSWORD={a:16} psql -h db -U app shop", "postgresql libpq envvars"),
    ("npmrc-auth-token", "//registry.npmjs.org/:_authToken={uuid}", f"{DETECT} npm.py"),
    ("npmrc-basic-auth", "_auth={b:24}", "docs.npmjs.com npmrc auth"),
    ("pypirc-password", "[pypi]\nusername = __token__\npassword = pypi-AgEIcHlwaS5vcmc{w:80}",
     "packaging.python.org pypirc"),
    ("docker-config-auth", '{"auths": {"ghcr.io": {"auth": "Y2k6{b:24}"}}}',
     "docs.docker.com config.json auths"),
    ("basic-auth-header", "Authorization: Basic YWRtaW46{b:20}", "rfc7617"),
    ("bearer-header", "curl -H 'Authorization: Bearer {w:40}' https://api.example.com/me",
     "rfc6750"),
    ("x-api-key-header", "curl -H \"X-API-Key: {a:32}\" https://api.example.com/v2/orders",
     "api gateway api keys"),
    ("kubectl-secret-literal",
     "kubectl create secret generic db --from-literal=password={a:16}", "kubectl docs"),
    ("kubeconfig-token", "users:\n- name: ci\n  user:\n    token: {w:60}", "kubernetes kubeconfig"),
    ("yaml-password", "database:\n  host: db\n  password: {a:14}", "spring/rails yaml config"),
    ("json-client-secret", '{"client_id": "app", "client_secret": "{w:40}"}',
     "rfc6749 client credentials"),
    ("ini-password", "[mysql]\nuser = app\npassword = {a:12}", "my.cnf option file"),
    ("toml-token", 'token = "{w:40}"', "generic TOML config"),
    ("dotenv-quoted", 'DB_PASSWORD="{a:16}"', "dotenv"),
    ("sql-identified-by", "CREATE USER 'app'@'%' IDENTIFIED BY '{a:14}';", "mysql CREATE USER"),
    ("sql-alter-password", "ALTER USER postgres WITH PASSWORD '{a:14}';", "postgresql ALTER ROLE"),
    ("helm-set-password", "helm install db bitnami/postgresql --set auth.password={a:16}",
     "helm --set"),
    ("terraform-var-secret", 'terraform apply -var "db_password={a:16}"', "terraform -var"),
    ("java-property", "spring.datasource.password={a:16}", "spring boot properties"),
    ("go-const", 'const apiSecret = "{w:32}"', "generic source constant"),
    ("python-constant", 'STRIPE_KEY = "sk_live_{a:24}"', "generic source constant"),
    ("js-config", "const config = { apiKey: '{w:39}' };", "firebase web config"),
    ("ruby-hash", "client = Client.new(access_token: '{w:40}')", "generic ruby keyword arg"),
    ("high-entropy-generic", 'SIGNING_SALT="{b:44}"', "detect-secrets Base64HighEntropyString"),
    ("high-entropy-hex", "HMAC_KEY={h:64}", "detect-secrets HexHighEntropyString"),
    ("high-entropy-bare", "the deploy token is {w:48} for now", "trufflehog entropy"),
    ("session-cookie", "Cookie: session={w:48}; theme=dark", "rfc6265"),
    ("vault-unseal", "vault operator unseal {b:44}", "vault operator unseal docs"),
    # -- found by a security review of the scrubber (issue #12, second round) and by hunting
    # for further encodings; each source names the documented format.
    ("curl-user-attached", "curl -udeploy:{a:14} https://api.example.com/v1/items",
     "curl manual: short options take their value attached (-uuser:password)"),
    ("user-flag-equals", "http --auth-type basic --user=deploy:{a:14} https://api.example.com",
     "GNU getopt_long --option=value form (wget, httpie, svn take it)"),
    ("curl-user-quoted", "curl --user 'ci-bot:{a:16}' https://ci.example.com/api/json",
     "curl manual --user"),
    ("dsn-percent-encoded",
     "DATABASE_URL=postgres%3A%2F%2Fapp%3A{a:16}%40db.internal%3A5432%2Fshop",
     "rfc3986 percent-encoding of a libpq URI (a DSN passed in a query string)"),
    ("dsn-double-encoded",
     "GET /connect?target=mysql%253A%252F%252Froot%253A{a:14}%2540db%253A3306 200",
     "rfc3986 percent-encoding applied twice (a proxied redirect)"),
    ("dsn-json-escaped-slashes",
     '{"DATABASE_URL":"postgres:\\/\\/app:{a:16}@db.internal:5432\\/shop"}',
     "rfc8259 section 7: the solidus may be escaped (PHP json_encode does by default)"),
    ("dsn-html-entities", "postgres&#58;&#47;&#47;app&#58;{a:16}&#64;db.internal/shop",
     "HTML numeric character references (a DSN copied from rendered docs)"),
    ("json-escaped-quoted-password",
     '{"cell_type": "code", "source": ["db_password = \\"{a:16}\\"\\n"]}',
     "nbformat 4 (Jupyter .ipynb): cell source lines as JSON strings"),
    ("jupyter-stream-output",
     '{"output_type": "stream", "name": "stdout", "text": ["MY_APP_PW={a:14}\\n", "ok\\n"]}',
     "nbformat 4 stream output of !env"),
    ("token-wrapped-in-log",
     "2026-11-22T10:00:01Z deploy.sh: using GITHUB_TOKEN=ghp_{a:20}\n{a:16} for the push",
     "terminal/CI log hard-wrapped at a fixed width"),
    ("token-shell-continuation", "export OPENAI_API_KEY=sk-proj-{w:24}\\\n{w:24}",
     "POSIX shell: backslash-newline is a line continuation"),
    ("token-adjacent-literals",
     'ANTHROPIC = ("sk-ant-api03-{w:40}"\n             "{w:53}AA")',
     "Python reference: adjacent string literals are concatenated"),
    ("pem-body-without-armour",
     "key body as pasted:\nMIIEow{b:58}\n{b:64}\n{b:64}\n{b:12}==",
     "rfc7468 base64 body, 64 columns, armour lines dropped"),
    ("private-key-base64-wrapped", "cat id_ed25519 | base64\n{pem64:60}",
     "GNU coreutils base64: wraps output at 76 columns"),
    ("kubeconfig-client-key-data", "users:\n- name: admin\n  user:\n    client-key-data: {pem64:60}",
     "kubernetes kubeconfig client-key-data (base64 PEM)"),
    ("basic-credential-bare", "echo {basic:16} | base64 -d", "rfc7617 user-pass in base64"),
    ("docker-config-pretty",
     '{\n  "auths": {\n    "registry.example.com": {\n      "auth": "{basic:18}"\n    }\n  }\n}',
     "docs.docker.com ~/.docker/config.json auths"),
    ("pgpass", "db.internal:5432:shop:app:{a:16}", "postgresql.org libpq-pgpass"),
    ("git-credential-fill",
     "protocol=https\nhost=github.com\nusername=bob\npassword=gho_{a:36}",
     "git-credential(1) input/output format"),
    ("env-dump-declare", 'declare -x AWS_SECRET_ACCESS_KEY="{b:40}"',
     "bash manual: export -p / declare -x output"),
    ("heredoc-export", "cat <<'EOF' > deploy.env\nexport DATABASE_PASSWORD={a:14}\nEOF",
     "POSIX shell here-document"),
    ("homoglyph-github", "token \u0067h\u0440_{a:36}",
     "unicode.org confusables.txt: CYRILLIC SMALL LETTER ER looks like p"),
    ("homoglyph-fullwidth", "\uff47\uff48\uff50_{a:36}",
     "unicode.org UAX #15: full-width forms fold under NFKC"),
    ("homoglyph-aws-greek", "aws \u0391\u039a\u0399\u0391{u:16}",
     "unicode.org confusables.txt: Greek capitals alpha, kappa, iota"),
    ("homoglyph-openai-body", "OPENAI=sk-pr\u043ej-{w:40}",
     "unicode.org confusables.txt: CYRILLIC SMALL LETTER O"),
    ("homoglyph-key-name", "\u0440\u0430ssword = {a:12}",
     "unicode.org confusables.txt: Cyrillic er and a in a key name"),
    # -- found by hunting: tools with password flags of their own, name/value pairs, XML
    ("maven-settings-password",
     "<server>\n  <id>nexus</id>\n  <username>ci</username>\n  <password>{a:16}</password>\n</server>",
     "maven.apache.org settings.xml servers"),
    ("go-mysql-dsn", 'dsn := "app:{a:16}@tcp(db:3306)/shop?parseTime=true"',
     "github.com/go-sql-driver/mysql DSN format"),
    ("redis-cli-a", "redis-cli -h cache -a {a:16} ping", "redis.io redis-cli -a"),
    ("openssl-passout", "openssl pkcs12 -export -passout pass:{a:14} -out a.p12",
     "openssl-passphrase-options(1)"),
    ("zip-password", "zip -P {a:12} backup.zip notes.txt", "zip(1) -P"),
    ("7z-password", "7z a -p{a:14} backup.7z dir", "7-Zip -p switch"),
    ("ssh-keygen-passphrase", "ssh-keygen -t ed25519 -N '{a:16}' -f deploy_key", "ssh-keygen(1) -N"),
    ("ldap-bind-password", "ldapsearch -x -D cn=admin,dc=example,dc=org -w {a:14} -b dc=example,dc=org",
     "ldapsearch(1) -w"),
    ("sqlcmd-password", 'sqlcmd -S db -U sa -P {a:16} -Q "select 1"', "learn.microsoft.com sqlcmd -P"),
    ("npm-config-set-token", "npm config set //registry.npmjs.org/:_authToken {uuid}",
     "docs.npmjs.com npm-config set"),
    ("k8s-env-value", "env:\n- name: DB_PASSWORD\n  value: {a:14}",
     "kubernetes.io define environment variables for a container"),
    ("ecs-name-value", '"environment": [{"name": "API_TOKEN", "value": "{a:20}"}]',
     "docs.aws.amazon.com ECS task definition environment"),
    ("dotnet-appsettings", '<add key="ApiKey" value="{a:24}" />',
     "learn.microsoft.com appSettings element"),
    ("getenv-default", 'api_key = os.getenv("API_KEY", "{a:16}")', "docs.python.org os.getenv"),
    ("yaml-block-scalar", "password: >-\n  {a:16}", "yaml.org spec 1.2 block scalars"),
    ("dockerfile-env-legacy", "ENV DB_PASSWORD {a:14}", "docs.docker.com Dockerfile ENV"),
    ("fish-set-export", "set -gx API_TOKEN {a:20}", "fishshell.com set -gx"),
    ("gh-secret-set", "gh secret set DEPLOY_KEY --body {a:20}", "cli.github.com gh secret set"),
    ("mysqladmin-password", "mysqladmin -u root password {a:14}", "dev.mysql.com mysqladmin password"),
    ("sudo-stdin", "echo '{a:14}' | sudo -S apt-get update", "sudo(8) -S"),
    ("requests-auth-tuple", 'requests.get(url, auth=("ci", "{a:16}"))',
     "requests.readthedocs.io authentication"),
    ("dotnet-network-credential", 'new NetworkCredential("ci", "{a:16}")',
     "learn.microsoft.com NetworkCredential"),
    ("prose-password", "connect as user admin, password {a:14}, then rotate it",
     "chat and ticket prose"),
    ("cargo-login", "cargo login cio{a:32}", "doc.rust-lang.org cargo login; crates.io token prefix"),
    ("windows-net-use", "net use \\\\fs\\share /user:admin {a:14}", "learn.microsoft.com net use"),
]

# Shapes in one split only. TUNE_ONLY: the prose forms missed in round 3 ("login: admin /
# pw", "user admin password pw"), which the rule was written against. REPORT_ONLY: written
# before the rule was run on anything, never tuned on.
TUNE_ONLY: list[tuple[str, str, str]] = [
    ("prose-login-slash", "login: admin / {p:7}", "issue 12 closing note: the prose form missed"),
    ("prose-user-password", "user admin password {p:7}", "issue 12 closing note"),
    ("prose-login-slash-random", "login: deploy / {a:12}", "chat and ticket prose"),
    ("prose-user-password-random", "user ci password {a:14}", "chat and ticket prose"),
    ("prose-username-pass", "username: backup pass: {p:9}", "chat and ticket prose"),
    ("prose-creds-slash", "creds for the test db are app / {p:8}", "chat and ticket prose"),
    # round 4 security review F5: the forms it reproduced (the rules were written on these)
    ("prose-newline-user-password", "user admin\npassword {p:8}", "security review F5"),
    ("prose-quoted-password", 'password "{p:8}"', "security review F5"),
    ("prose-quoted-spaced-password", "password='{p:6} {p:6}'", "security review F5"),
    ("prose-reversed-password", "password {p:9} for user deploy", "security review F5"),
    ("prose-password-for-user-is", "the password for user admin is {p:8}", "security review F5"),
    ("prose-creds-colon-slash", "creds: admin/{p:8}", "security review F5"),
    ("prose-de-passwort", "Passwort: {p:9}", "security review F5 (German)"),
    ("prose-de-kennwort", "Benutzer admin, Kennwort {p:9}", "security review F5 (German)"),
    ("prose-fr-mot-de-passe", "mot de passe : {p:8}", "security review F5 (French)"),
    ("prose-es-contrasena", "contraseña: {p:9}", "security review F5 (Spanish)"),
]
REPORT_ONLY: list[tuple[str, str, str]] = [
    ("prose-sign-in-slash", "sign in to the dashboard as reviewer / {p:8}", "chat and ticket prose"),
    ("prose-account-passphrase", "account ops, passphrase {a:16}", "chat and ticket prose"),
    ("prose-username-with-password", "the box takes username jenkins with password {p:9} over ssh",
     "chat and ticket prose"),
    # round 5, written before the F5 rules ran on anything
    ("prose-newline-username-pass", "username: ci\npass {p:9}", "chat and ticket prose"),
    ("prose-newline-login-password", "login deploy\npassword: {a:12}", "chat and ticket prose"),
    ("prose-quoted-db-password", 'the db password "{p:9}" still works', "chat and ticket prose"),
    ("prose-quoted-spaced-passwd", "passwd '{p:7} {p:7}'", "chat and ticket prose"),
    ("prose-reversed-account", "use password {p:9} for the admin account", "chat and ticket prose"),
    ("prose-credentials-slash", "credentials: ops/{p:8}", "chat and ticket prose"),
    ("prose-de-passwort-fuer", "Das Passwort für Benutzer admin ist {p:9}", "German chat prose"),
    ("prose-fr-identifiant", "identifiant : admin, mot de passe : {p:9}", "French chat prose"),
    ("prose-es-usuario", "usuario: admin / contraseña: {p:9}", "Spanish chat prose"),
    ("prose-es-es", "la contraseña es {p:9}", "Spanish chat prose"),
]

# fmt: on

# How a token appears in the wild; NAME is its usual variable.
CONTEXTS = [
    "export {NAME}={s}",
    "{NAME}={s}",
    '{NAME}="{s}"',
    "  {name}: {s}",
    '{{"{name}": "{s}"}}',
    "set the {name} to {s} before running the deploy",
    "os.environ['{NAME}'] = '{s}'",
    '$env:{NAME} = "{s}"',
]
PREFIXED_CONTEXTS = [
    "the failing request used {s} as its credential",
    "curl -H 'Authorization: Bearer {s}' https://api.example.com/v1/me",
    "token: {s}",
    "echo {s} | gh auth login --with-token",
    "{s}",
]


def _prefixed(template: str) -> bool:
    return bool(re.match(r"^[A-Za-z0-9_.:/-]{2,}\{", template)) and not template.startswith(
        ("0x", "00", "2", "5", "base64:", "live_")
    )


def build(seed: int, only: list[tuple[str, str, str]] | None = None) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    for provider, template, name, source in TOKENS:
        uses = 2 if _prefixed(template) else 1
        contexts = rng.sample(CONTEXTS, 1) + (rng.sample(PREFIXED_CONTEXTS, 1) if uses > 1 else [])
        for context in contexts:
            secret = fill(template, rng)
            text = context.format(NAME=name, name=name.lower(), s=secret)
            rows.append({"provider": provider, "format": template, "source": source,
                         "text": text, "secret": secret})  # fmt: skip
    for provider, template, source in SHAPED + (only or []):
        marker = "\n"
        rng_state = rng.getstate()
        text = fill(template, rng)
        rng.setstate(rng_state)
        # the secret: every random part of the template, joined by the marker
        parts = re.split(f"({_PLACEHOLDER})", template)
        pieces = [fill(p, rng) for p in parts if re.fullmatch(_PLACEHOLDER, p)]
        secret = marker.join(pieces)
        rows.append({"provider": provider, "format": template, "source": source,
                     "text": text, "secret": secret})  # fmt: skip
    return rows


def main() -> None:
    for name, seed, only in (("tune", 1, TUNE_ONLY), ("report", 2, REPORT_ONLY)):
        rows = build(seed, only)
        path = HERE / f"secrets-{name}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        providers = {r["provider"] for r in rows}
        print(f"{path.name}: {len(rows)} secrets of {len(providers)} providers and kinds")


if __name__ == "__main__":
    main()
