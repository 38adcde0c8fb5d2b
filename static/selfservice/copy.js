// Copy buttons (the only thing on these pages that needs JavaScript): a button
// with data-copy-target="<id>" copies that element's text. Buttons start hidden,
// so a browser without JavaScript shows no dead button, only selectable text.
(function () {
  "use strict";

  function textOf(element) {
    var tag = element.tagName;
    return (tag === "INPUT" || tag === "TEXTAREA" ? element.value : element.textContent).trim();
  }

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try {
      return document.execCommand("copy");
    } finally {
      document.body.removeChild(area);
    }
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return fallbackCopy(text) ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function selectContents(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("button[data-copy-target]").forEach(function (button) {
      var target = document.getElementById(button.getAttribute("data-copy-target"));
      if (!target) return;
      var label = button.textContent;
      button.hidden = false;
      button.addEventListener("click", function () {
        copy(textOf(target)).then(
          function () {
            button.textContent = "Copied";
            button.setAttribute("data-copied", "true");
          },
          function () {
            // The browser refused: select the text so Ctrl+C / Cmd+C works.
            selectContents(target);
            button.textContent = "Press Ctrl+C";
          }
        );
        window.setTimeout(function () {
          button.textContent = label;
          button.removeAttribute("data-copied");
        }, 2500);
      });
    });

    // The role ARN's placeholder follows the account ID being typed (the form
    // computes the same ARN on the server when the field is left empty).
    var accountInput = document.getElementById("id_account_id");
    var arnInput = document.getElementById("id_role_arn");
    if (accountInput && arnInput && arnInput.dataset.roleName) {
      accountInput.addEventListener("input", function () {
        var digits = accountInput.value.replace(/[^0-9]/g, "");
        arnInput.placeholder = "arn:" + arnInput.dataset.partition + ":iam::" +
          (digits.length === 12 ? digits : "<account ID>") + ":role/" + arnInput.dataset.roleName;
      });
    }
  });
})();
