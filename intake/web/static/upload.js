/* The upload page (issue 14): tus-js-client with progress, speed, time left, pause/resume.
   No build step: this file and /static/tus.min.js are served as they are. */
"use strict";
(function () {
  var root = document.getElementById("upload");
  var T = JSON.parse(document.getElementById("texts").textContent);
  var token = root.dataset.token, prefix = root.dataset.prefix;
  var max = Number(root.dataset.max);
  var $ = function (id) { return document.getElementById(id); };
  var codeInput = $("code"), emailInput = $("email"), fileInput = $("file");
  var startButton = $("start"), pauseButton = $("pause"), bar = $("bar");
  var upload = null, running = false, samples = [];

  function say(key, values) {
    var text = T[key] || key;
    Object.keys(values || {}).forEach(function (k) { text = text.replace("{" + k + "}", values[k]); });
    return text;
  }

  /* parsers/refcode.py in a few lines: Crockford base32 without Z, weights 6..2, check 1,
     the sum a multiple of 31; read leniently (case, separators, O/0, I/L/1). */
  var ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXY";
  function canonicalCode(text) {
    var s = text.toUpperCase().replace(/[\s\-_.\u2010-\u2015\u2212]/g, "");
    if (s.indexOf(prefix) !== 0) return null;
    var rest = s.slice(prefix.length).replace(/O/g, "0").replace(/[IL]/g, "1");
    if (rest.length !== 6) return null;
    var total = 0;
    for (var i = 0; i < 6; i++) {
      var v = ALPHABET.indexOf(rest[i]);
      if (v < 0) return null;
      total += v * (i < 5 ? 6 - i : 1);
    }
    return total % 31 === 0 ? prefix + "-" + rest.slice(0, 5) + "-" + rest[5] : null;
  }
  function emailOk(v) { return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v); }

  function hint(el, ok, okKey, badKey) {
    if (!el) return;
    el.textContent = ok === null ? "" : say(ok ? okKey : badKey);
    el.className = "hint" + (ok === null ? "" : ok ? " ok" : " bad");
  }

  function ready() {
    var file = fileInput.files[0];
    if (!token) {
      var code = codeInput.value.trim(), email = emailInput.value.trim();
      hint($("code-status"), code ? !!canonicalCode(code) : null, "code_ok", "code_bad");
      hint($("email-status"), email ? emailOk(email) : null, "email_ok", "email_bad");
      if (!canonicalCode(code) || !emailOk(email)) return false;
    }
    if (file && file.size > max) { $("status").textContent = say("too_big", {max: root.dataset.maxText}); return false; }
    return !!file;
  }
  function refresh() { startButton.disabled = running || !ready(); }

  function human(bytes) {
    var units = ["B", "KB", "MB", "GB"], i = 0;
    while (bytes >= 1000 && i < units.length - 1) { bytes /= 1000; i++; }
    return bytes.toFixed(i ? 1 : 0) + " " + units[i];
  }
  function duration(seconds) {
    if (!isFinite(seconds)) return "…";
    if (seconds < 60) return Math.ceil(seconds) + " s";
    if (seconds < 3600) return Math.ceil(seconds / 60) + " min";
    return (seconds / 3600).toFixed(1) + " h";
  }

  function progress(sent, total) {
    var now = Date.now();
    samples.push([now, sent]);
    while (samples.length > 2 && now - samples[0][0] > 10000) samples.shift();  // 10 s window
    var first = samples[0], speed = (sent - first[1]) / Math.max(0.001, (now - first[0]) / 1000);
    var percent = total ? Math.floor(sent * 100 / total) : 0;
    bar.hidden = false; bar.value = percent;
    $("status").textContent = say("progress", {percent: percent, done: human(sent), total: human(total)});
    $("detail").textContent = speed > 0 ? say("speed", {speed: human(speed)}) + " · " +
      say("left", {time: duration((total - sent) / speed)}) : "";
  }

  function metadata(file) {
    var meta = {filename: file.name, filetype: file.type || "", lang: document.documentElement.lang};
    if (token) meta.token = token;
    else { meta.code = canonicalCode(codeInput.value); meta.email = emailInput.value.trim(); }
    return meta;
  }

  function begin() {
    var file = fileInput.files[0];
    var key = token || canonicalCode(codeInput.value);
    upload = new tus.Upload(file, {
      endpoint: "/tus/",
      metadata: metadata(file),
      // Retries for about ten minutes: a phone that loses its signal, a server restarting.
      retryDelays: [0, 1000, 2000, 3000, 5000].concat(new Array(60).fill(10000)),
      removeFingerprintOnSuccess: true,
      // One key per file *and* brief: the same video sent for another brief is a new upload.
      fingerprint: function (f) {
        return Promise.resolve(["intake", key, f.name, f.type, f.size, f.lastModified].join("/"));
      },
      onProgress: progress,
      onShouldRetry: function (err, attempt, options) {
        var status = err.originalResponse ? err.originalResponse.getStatus() : 0;
        if (!status || status >= 500 || status === 409 || status === 423) {
          $("detail").textContent = say("waiting");
          return true;
        }
        return false;
      },
      onError: function (err) {
        running = false; pauseButton.hidden = true;
        var body = err.originalResponse ? err.originalResponse.getBody() : "";
        $("status").textContent = say("failed", {reason: (body || err.message || "").trim()});
        refresh();
      },
      onSuccess: function () {
        running = false; pauseButton.hidden = true; bar.value = 100;
        $("status").textContent = say("done"); $("detail").textContent = "";
        startButton.disabled = true;
      }
    });
    upload.findPreviousUploads().then(function (previous) {
      if (previous.length) {
        upload.resumeFromPreviousUpload(previous[0]);
        $("detail").textContent = say("resuming");
      }
      go();
    });
  }

  function go() {
    running = true; samples = [];
    pauseButton.hidden = false; pauseButton.textContent = say("pause");
    refresh();
    upload.start();
  }

  startButton.addEventListener("click", function () { if (ready()) begin(); });
  pauseButton.addEventListener("click", function () {
    if (running) {
      upload.abort(); running = false; pauseButton.textContent = say("resume");
    } else { go(); }
  });
  [codeInput, emailInput, fileInput].forEach(function (el) {
    if (el) { el.addEventListener("input", refresh); el.addEventListener("change", refresh); }
  });
  // ?code= (from the links kit or a chat reply) fills the code in
  var given = new URLSearchParams(location.search).get("code");
  if (codeInput && given) codeInput.value = given;
  refresh();
})();
