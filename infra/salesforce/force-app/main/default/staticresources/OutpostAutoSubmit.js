/*
 * Submits the Outpost entry form (c:OutpostEntryForm) as soon as the page has loaded, so the user
 * does not have to press its Continue button. Kept in a static resource: Visualforce pages of an
 * AppExchange package load no inline script.
 */
(function () {
    "use strict";

    function submitEntryForm() {
        var form = document.getElementById("outpost-entry");
        if (form) {
            form.submit();
        }
    }

    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", submitEntryForm);
    } else {
        submitEntryForm();
    }
})();
