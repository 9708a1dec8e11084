#!/bin/sh
# Compose's first one-shot (service `check-secrets`): refuse to start while a secret in .env is still the
# .env.example placeholder, or the JWT secret is too short. The placeholders are public: a stack running on
# them lets anyone who has read .env.example sign API tokens or log in. Exits non-zero, naming each bad one.
set -u

SECRETS="POSTGRES_PASSWORD CRYPTOLSTM_DB_PASSWORD CRYPTOLSTM_READER_PASSWORD AIRFLOW_JWT_SECRET AIRFLOW_API_SECRET_KEY AIRFLOW_WWW_PASSWORD"
JWT_MIN_CHARS=64  # Airflow signs its API tokens with this secret, shared by every component
MAKE_ONE='python3 -c "import secrets; print(secrets.token_urlsafe(48))"'

bad=0
for name in $SECRETS; do
    eval "value=\${$name:-}"
    # compared in lower case: CHANGE-ME or Change-Me is the same public placeholder
    case "$(printf '%s' "$value" | tr '[:upper:]' '[:lower:]')" in
        "" | change-me*)
            echo "refusing to start: $name in .env is unset or the .env.example placeholder; make one with: $MAKE_ONE" >&2
            bad=1 ;;
    esac
done
jwt=${AIRFLOW_JWT_SECRET:-}
if [ "${#jwt}" -lt "$JWT_MIN_CHARS" ]; then
    echo "refusing to start: AIRFLOW_JWT_SECRET in .env has ${#jwt} characters, it needs $JWT_MIN_CHARS or more; make one with: $MAKE_ONE" >&2
    bad=1
fi
[ "$bad" -eq 0 ] && echo "check-secrets: no secret is a placeholder"
exit "$bad"
