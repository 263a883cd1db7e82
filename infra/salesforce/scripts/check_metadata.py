#!/usr/bin/env python3
"""Offline checks of the Outpost SFDX metadata (python3 standard library only).

1. Every *.xml / *-meta.xml file is well-formed XML.
2. The entry points: no session id in any metadata file; the links, button, formula field and tab
   open the Visualforce launcher pages, whose entry form posts exactly Outpost's POST /entry fields.
3. The Outpost host: in source only the placeholder, and only in *-meta.xml files; with
   --converted, the output of a conversion with OUTPOST_HOST set carries the host everywhere.
4. Cross-references that a deploy would otherwise reject: permission set grants, named/external
   credential wiring, external client app plugins, source files with their -meta.xml.
5. External Client Apps: the sign-in app's OAuth scopes cover every scope Outpost's sign-in
   requests (read from functions/entry/src/sso.rs), the integration app allows api, and only the
   integration user's permission set is pre-authorized for the app that has JWT bearer.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "force-app" / "main" / "default"
# Per-org settings that a package cannot carry (External Client App global settings and policies).
ORG = ROOT / "org-settings" / "main" / "default"
NS = "http://soap.sforce.com/2006/04/metadata"
M = {"m": NS}
SKIP_DIRS = {"node_modules", ".sf", ".sfdx", ".git"}

SYNCED_OBJECTS = ("Contact", "Lead")
PLACEHOLDER_HOST = "outpost.example.com"
# check.sh converts the source with OUTPOST_HOST set to this and hands the output to --converted.
REPLACED_HOST = "outpost.replaced.invalid"
PLACEHOLDER_USERNAME = "integration.user@outpost-username.invalid"
REPLACED_USERNAME = "integration@replaced.invalid"
SUBSCRIBER_CONFIG = ORG / "PlatformEventSubscriberConfigs" / "OutpostSyncEventTrigger.platformEventSubscriberConfig-meta.xml"
CONFIG_RECORD = SRC / "customMetadata" / "Outpost_Config.Default.md-meta.xml"

errors: list[str] = []
notes: list[str] = []
counts = {"xml": 0, "entry points": 0, "references": 0}


def fail(message: str) -> None:
    errors.append(message)


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def text(root: ET.Element, tag: str) -> str | None:
    node = root.find(f"m:{tag}", M)
    return node.text if node is not None else None


def texts(root: ET.Element, path: str) -> list[str]:
    return [node.text or "" for node in root.findall(path, M)]


# 1. Well-formed XML ---------------------------------------------------------------------------

parsed: dict[Path, ET.Element] = {}
for path in sorted(ROOT.rglob("*.xml")):
    if SKIP_DIRS.intersection(path.relative_to(ROOT).parts):
        continue
    counts["xml"] += 1
    try:
        parsed[path] = ET.parse(path).getroot()
    except ET.ParseError as error:
        fail(f"{rel(path)}: not well-formed XML: {error}")
        continue
    if path.name.endswith("-meta.xml") and not parsed[path].tag.startswith("{" + NS + "}"):
        fail(f"{rel(path)}: root element is not in the Metadata API namespace")


def load(path: Path) -> ET.Element | None:
    if path in parsed:
        return parsed[path]
    fail(f"{rel(path)}: missing")
    return None


# 2. Entry points ------------------------------------------------------------------------------
# No session id in any URL or field value: links, the button, the formula field and the tab open the
# launcher pages, which post the session to Outpost in a form body (c:OutpostEntryForm).

project = json.loads((ROOT / "sfdx-project.json").read_text())
namespace = project.get("namespace") or ""
page_prefix = f"{namespace}__" if namespace else ""
LAUNCHER = f"/apex/{page_prefix}OutpostLaunch"
SESSION_MARKERS = ("API.SESSION_ID", "API_SESSION_ID", "GETSESSIONID")
ENTRY_FIELDS = {"uid", "oid", "sid", "srv", "rid", "ids", "object"}
hosts: set[str] = set()

for path, root in parsed.items():
    if SRC in path.parents:
        body = ET.tostring(root, encoding="unicode").upper()
        for marker in SESSION_MARKERS:
            if marker in body:
                fail(f"{rel(path)}: names {marker}; session ids go to Outpost only in the launcher's form body")


def check_launcher_link(path: Path, root: ET.Element, obj: str, display: str) -> None:
    counts["entry points"] += 1
    expected = f"{LAUNCHER}?rid={{!{obj}.Id}}"
    if text(root, "displayType") != display or text(root, "linkType") != "url" or text(root, "url") != expected:
        fail(f"{rel(path)}: must be a {display} of linkType url opening {expected}")


for obj in SYNCED_OBJECTS:
    links_dir = SRC / "objects" / obj / "webLinks"
    expected_links = {
        "Outpost_Launch": lambda path, root: check_launcher_link(path, root, obj, "link"),
        "Outpost_Open_Button": lambda path, root: check_launcher_link(path, root, obj, "button"),
        "Outpost_Add_To_List": None,
    }
    found = {path.name.split(".")[0]: path for path in links_dir.glob("*.webLink-meta.xml")}
    if set(found) != set(expected_links):
        fail(f"{rel(links_dir)}: expected the links {sorted(expected_links)}, found {sorted(found)}")
    for name, check in expected_links.items():
        root = load(found[name]) if name in found else None
        if root is not None and check is not None:
            check(found[name], root)
    list_button = load(found["Outpost_Add_To_List"]) if "Outpost_Add_To_List" in found else None
    if list_button is not None:
        counts["entry points"] += 1
        page = f"OutpostAdd{obj}s"
        if (
            text(list_button, "displayType") != "massActionButton"
            or text(list_button, "linkType") != "page"
            or text(list_button, "page") != page
            or text(list_button, "requireRowSelection") != "true"
        ):
            fail(f"{rel(found['Outpost_Add_To_List'])}: must be a list button (massActionButton) opening page {page}")
        page_source = SRC / "pages" / f"{page}.page"
        markup = page_source.read_text() if page_source.is_file() else ""
        if f'standardController="{obj}"' not in markup or 'recordSetVar="' not in markup:
            fail(f"{rel(page_source)}: must use the {obj} standard set controller (recordSetVar)")

    field_path = SRC / "objects" / obj / "fields" / "Outpost_Link__c.field-meta.xml"
    root = load(field_path)
    if root is not None:
        counts["entry points"] += 1
        compact = re.sub(r"\s+", "", text(root, "formula") or "")
        expected = f'HYPERLINK("{LAUNCHER}?rid="&Id,"OpeninOutpost","_blank")'
        if text(root, "type") != "Text" or compact != expected:
            fail(f"{rel(field_path)}: must be the Text formula HYPERLINK(\"{LAUNCHER}?rid=\" & Id, ...)")

for path in sorted((SRC / "tabs").glob("*.tab-meta.xml")):
    root = load(path)
    if root is None:
        continue
    counts["entry points"] += 1
    page = text(root, "page")
    if text(root, "url") is not None or page is None:
        fail(f"{rel(path)}: Outpost tabs are Visualforce tabs (a web tab would put the session in its URL)")
    elif not (SRC / "pages" / f"{page}.page").is_file():
        fail(f"{rel(path)}: Visualforce page {page} does not exist")

form = SRC / "components" / "OutpostEntryForm.component"
markup = form.read_text() if form.is_file() else ""
if not re.search(r'<form id="outpost-entry" method="post" action="\{!entry\.action\}">', markup):
    fail(f"{rel(form)}: must hold <form id=\"outpost-entry\" method=\"post\" action=\"{{!entry.action}}\">")
posted = set(re.findall(r'<input type="hidden" name="(\w+)"', markup))
if posted != ENTRY_FIELDS:
    fail(f"{rel(form)}: posts {sorted(posted)}; Outpost's POST /entry contract is {sorted(ENTRY_FIELDS)}")
if 'type="submit"' not in markup or "$Resource.OutpostAutoSubmit" not in markup:
    fail(f"{rel(form)}: needs its Continue button and the OutpostAutoSubmit static resource")
for page in sorted((SRC / "pages").glob("*.page")):
    source = page.read_text()
    if "<script" in source.lower():
        fail(f"{rel(page)}: no inline script; load JavaScript from a static resource")

named_credential = load(SRC / "namedCredentials" / "Outpost.namedCredential-meta.xml")
if named_credential is not None:
    for parameter in named_credential.findall("m:namedCredentialParameters", M):
        if text(parameter, "parameterType") == "Url":
            hosts.add(urlsplit(text(parameter, "parameterValue") or "").netloc)

for path in [
    ORG / "extlClntAppGlobalOauthSets" / "Outpost_glbl.ecaGlblOauth-meta.xml",
    ORG / "extlClntAppGlobalOauthSets" / "Outpost_Integration_glbl.ecaGlblOauth-meta.xml",
    SRC / "extlClntAppCanvasSettings" / "Outpost_canvas.ecaCanvas-meta.xml",
]:
    root = load(path)
    if root is None:
        continue
    for tag in ("callbackUrl", "canvasUrl"):
        value = text(root, tag)
        if value is not None:
            if urlsplit(value).scheme != "https":
                fail(f"{rel(path)}: {tag} must be https")
            hosts.add(urlsplit(value).netloc)

trusted_site = load(SRC / "cspTrustedSites" / "Outpost.cspTrustedSite-meta.xml")
if trusted_site is not None:
    hosts.add(urlsplit(text(trusted_site, "endpointUrl") or "").netloc)
    if text(trusted_site, "isApplicableToFrameSrc") != "true" or text(trusted_site, "isActive") != "true":
        fail("cspTrustedSites/Outpost: must be an active frame-src trusted URL (the Outpost tab frames Outpost)")

config_record = load(CONFIG_RECORD)
if config_record is not None:
    values = {
        text(value, "field"): text(value, "value")
        for value in config_record.findall("m:values", M)
    }
    hosts.add(values.get("Host__c") or "")

if hosts != {PLACEHOLDER_HOST}:
    fail(
        f"the Outpost host must be the placeholder {PLACEHOLDER_HOST} in source (OUTPOST_HOST replaces it at deploy "
        f"time, see README); found {sorted(hosts)}"
    )
for source in sorted([*SRC.rglob("*"), *ORG.rglob("*")]):
    if source.is_file() and not source.name.endswith("-meta.xml") and PLACEHOLDER_HOST in source.read_text(errors="ignore"):
        fail(f"{rel(source)}: names {PLACEHOLDER_HOST}, which only *-meta.xml files may (the replacement covers those)")


def check_replaced(converted: Path) -> None:
    """The deploy-time replacement reaches every place the host lives, and leaves no placeholder."""
    counts["replaced"] = 0
    for path in sorted(converted.rglob("*")):
        if not path.is_file():
            continue
        body = path.read_text(errors="ignore")
        if PLACEHOLDER_HOST in body:
            fail(f"converted {path.relative_to(converted)}: still names {PLACEHOLDER_HOST} after the replacement")
        if REPLACED_HOST in body:
            counts["replaced"] += 1
    for expected in (
        "customMetadata/Outpost_Config.Default.md",
        "namedCredentials/Outpost.namedCredential",
        "extlClntAppCanvasSettings/Outpost_canvas.ecaCanvas",
        "extlClntAppGlobalOauthSets/Outpost_glbl.ecaGlblOauth",
        "cspTrustedSites/Outpost.cspTrustedSite",
    ):
        target = converted / expected
        if not target.is_file() or REPLACED_HOST not in target.read_text():
            fail(f"converted {expected}: does not carry OUTPOST_HOST")
    converted_config = converted / "PlatformEventSubscriberConfigs" / "OutpostSyncEventTrigger.platformEventSubscriberConfig"
    if not converted_config.is_file() or f"<user>{REPLACED_USERNAME}</user>" not in converted_config.read_text():
        fail("converted PlatformEventSubscriberConfig: does not run as OUTPOST_INTEGRATION_USERNAME")
    replaced_dirs = {
        r.get("glob", "").split("/")[0]
        for r in project.get("replacements", [])
        if r.get("stringToReplace") == PLACEHOLDER_HOST and r.get("replaceWithEnv") == "OUTPOST_HOST"
    }
    ref(
        replaced_dirs >= {"force-app", "org-settings"},
        f"sfdx-project.json: must replace {PLACEHOLDER_HOST} with $OUTPOST_HOST in force-app and org-settings",
    )

# 3. Cross-references --------------------------------------------------------------------------


def ref(condition: bool, message: str) -> None:
    counts["references"] += 1
    if not condition:
        fail(message)


api_version = project.get("sourceApiVersion")
directories = {d.get("path"): d for d in project.get("packageDirectories", [])}
ref(set(directories) == {"force-app", "org-settings"}, f"sfdx-project.json: package directories {sorted(directories)}")
ref(
    all(directories.get("force-app", {}).get(key) for key in ("package", "versionNumber", "versionName")),
    "sfdx-project.json: force-app must declare the second-generation package (package, versionName, versionNumber)",
)
ref("package" not in directories.get("org-settings", {}), "sfdx-project.json: org-settings is per-org, never packaged")
ref(
    re.fullmatch(r"([A-Za-z][A-Za-z0-9]{0,14})?", namespace) is not None and "__" not in namespace,
    f"sfdx-project.json: namespace {namespace!r} is not a namespace prefix",
)
ref(api_version == "66.0", f"sfdx-project.json: sourceApiVersion must be 66.0, found {api_version}")

for suffix, folder in ((".cls", "classes"), (".trigger", "triggers"), (".page", "pages")):
    for source in sorted((SRC / folder).glob(f"*{suffix}")):
        meta = source.with_name(source.name + "-meta.xml")
        ref(meta.is_file(), f"{rel(source)}: missing {meta.name}")
        if meta in parsed:
            version = text(parsed[meta], "apiVersion")
            ref(version == api_version, f"{rel(meta)}: apiVersion {version} differs from {api_version}")

external_credentials: dict[str, ET.Element] = {}
for path in sorted((SRC / "externalCredentials").glob("*.externalCredential-meta.xml")):
    if path in parsed:
        external_credentials[path.name.split(".")[0]] = parsed[path]


def principals(credential: ET.Element) -> set[str]:
    return {
        text(p, "parameterName") or ""
        for p in credential.findall("m:externalCredentialParameters", M)
        if text(p, "parameterType") in ("NamedPrincipal", "PerUserPrincipal")
    }


for name, credential in external_credentials.items():
    for parameter in credential.findall("m:externalCredentialParameters", M):
        if text(parameter, "parameterType") == "AuthHeader":
            value = text(parameter, "parameterValue") or ""
            for used in re.findall(r"\$Credential\.(\w+)\.\w+", value):
                ref(used == name, f"external credential {name}: header formula reads $Credential.{used}")
    ref(bool(principals(credential)), f"external credential {name}: has no principal")

if named_credential is not None:
    linked = [
        text(p, "externalCredential")
        for p in named_credential.findall("m:namedCredentialParameters", M)
        if text(p, "parameterType") == "Authentication"
    ]
    ref(linked == ["Outpost"], f"named credential Outpost: must authenticate with external credential Outpost, found {linked}")
    ref(text(named_credential, "namedCredentialType") == "SecuredEndpoint", "named credential Outpost: must be SecuredEndpoint")

classes = {p.stem for p in (SRC / "classes").glob("*.cls")}
pages = {p.stem for p in (SRC / "pages").glob("*.page")}
tabs = {p.name.split(".")[0] for p in (SRC / "tabs").glob("*.tab-meta.xml")}
permission_sets = {p.name.split(".")[0] for p in (SRC / "permissionsets").glob("*.permissionset-meta.xml")}

custom_permissions = {p.name.split(".")[0] for p in (SRC / "customPermissions").glob("*.customPermission-meta.xml")}
# Standard fields under field-level security that the sync selects (functions/sync/src/records.rs);
# required ones (Lead.Company, Lead.Status) and system ones (OwnerId, dates) are always readable.
LIST_FIELDS = {
    "Contact": {"AccountId", "Department", "LeadSource", "MailingCity", "MailingCountry", "MailingState", "Title"},
    "Lead": {"City", "Country", "Industry", "LeadSource", "State", "Title"},
}
STANDARD_FIELDS = {"Email", "HasOptedOutOfEmail"} | LIST_FIELDS["Contact"] | LIST_FIELDS["Lead"]

# What each persona must be granted (at least) and must never be granted.
PERSONAS = {
    "Outpost_User": {
        "pages": {"OutpostLaunch", "OutpostAddContacts", "OutpostAddLeads"},
        "tabs": {"Outpost_Launch"},
        "forbidden_pages": {"OutpostSetup"},
        "forbidden_tabs": {"Outpost_Setup"},
        "must_not": {"principal", "custom permission", "user permissions", "objects"},
    },
    "Outpost_Admin": {
        "pages": {"OutpostSetup"},
        "tabs": {"Outpost_Setup"},
        "classes": {"OutpostSetupController"},
        "custom_permissions": {"Outpost_Admin"},
        "read_objects": {"Outpost_Log__c"},
        "principal": True,
        "must_not": {"user permissions"},
    },
    "Outpost_Integration_User": {
        "classes": {"OutpostRestResource"},
        "user_permissions": {"ApiEnabled", "EditTask"},
        "editable_fields": {"Contact.HasOptedOutOfEmail", "Lead.HasOptedOutOfEmail"},
        "readable_fields": {f"{obj}.{field}" for obj, fields in LIST_FIELDS.items() for field in fields}
        | {"Contact.Email", "Lead.Email"},
        "edit_objects": {"Contact", "Lead"},
        "view_all_objects": {"Account", "Contact", "Lead"},
        "principal": True,
        "must_not": {"pages", "tabs", "custom permission"},
    },
}
ref(permission_sets == set(PERSONAS), f"permissionsets: expected {sorted(PERSONAS)}, found {sorted(permission_sets)}")

for name, persona in PERSONAS.items():
    permission_set = load(SRC / "permissionsets" / f"{name}.permissionset-meta.xml")
    if permission_set is None:
        continue
    granted_classes = set(texts(permission_set, "m:classAccesses/m:apexClass"))
    granted_pages = set(texts(permission_set, "m:pageAccesses/m:apexPage"))
    granted_tabs = set(texts(permission_set, "m:tabSettings/m:tab"))
    granted_custom = set(texts(permission_set, "m:customPermissions/m:name"))
    granted_user = set(texts(permission_set, "m:userPermissions/m:name"))
    granted_objects = {text(grant, "object"): grant for grant in permission_set.findall("m:objectPermissions", M)}
    granted_principals = texts(permission_set, "m:externalCredentialPrincipalAccesses/m:externalCredentialPrincipal")
    for apex_class in granted_classes:
        ref(apex_class in classes and not apex_class.endswith("Test"), f"{name}: class {apex_class} is not an Outpost class")
    for page in granted_pages:
        ref(page in pages, f"{name}: page {page} does not exist")
    for tab in granted_tabs:
        ref(tab in tabs, f"{name}: tab {tab} does not exist")
    for permission in granted_custom:
        ref(permission in custom_permissions, f"{name}: custom permission {permission} does not exist")
    for grant in permission_set.findall("m:fieldPermissions", M):
        field = text(grant, "field") or ""
        obj, _, field_name = field.partition(".")
        custom = (SRC / "objects" / obj / "fields" / f"{field_name}.field-meta.xml").is_file()
        ref(custom or field_name in STANDARD_FIELDS, f"{name}: field {field} does not exist")
        if field_name == "Outpost_Link__c":
            ref(text(grant, "editable") == "false", f"{name}: {field} is a formula, grant read only")
    for grant in granted_principals:
        credential, _, principal = grant.partition("-")
        ref(
            credential in external_credentials and principal in principals(external_credentials[credential]),
            f"{name}: principal {grant} does not exist",
        )
    ref(persona.get("pages", set()) <= granted_pages, f"{name}: must grant the pages {sorted(persona.get('pages', []))}")
    ref(not persona.get("forbidden_pages", set()) & granted_pages, f"{name}: must not grant {sorted(persona.get('forbidden_pages', []))}")
    ref(not persona.get("forbidden_tabs", set()) & granted_tabs, f"{name}: must not show {sorted(persona.get('forbidden_tabs', []))}")
    ref(persona.get("tabs", set()) <= granted_tabs, f"{name}: must make {sorted(persona.get('tabs', []))} visible")
    ref(persona.get("classes", set()) <= granted_classes, f"{name}: must grant {sorted(persona.get('classes', []))}")
    ref(
        persona.get("custom_permissions", set()) <= granted_custom,
        f"{name}: must grant {sorted(persona.get('custom_permissions', []))}",
    )
    ref(persona.get("user_permissions", set()) <= granted_user, f"{name}: must grant {sorted(persona.get('user_permissions', []))}")
    editable = {text(g, "field") for g in permission_set.findall("m:fieldPermissions", M) if text(g, "editable") == "true"}
    ref(persona.get("editable_fields", set()) <= editable, f"{name}: must grant edit on {sorted(persona.get('editable_fields', []))}")
    readable = {text(g, "field") for g in permission_set.findall("m:fieldPermissions", M) if text(g, "readable") == "true"}
    missing = persona.get("readable_fields", set()) - readable
    ref(not missing, f"{name}: must grant read on {sorted(missing)}")
    for obj in persona.get("view_all_objects", set()):
        grant = granted_objects.get(obj)
        ref(grant is not None and text(grant, "viewAllRecords") == "true", f"{name}: must grant View All on {obj}")
    for obj in persona.get("read_objects", set()):
        grant = granted_objects.get(obj)
        ref(grant is not None and text(grant, "allowRead") == "true", f"{name}: must grant read on {obj}")
    if name == "Outpost_Admin":
        ref(set(granted_objects) <= {"Outpost_Log__c"}, f"{name}: grants object access beyond the Outpost log")
    for obj in persona.get("edit_objects", set()):
        grant = granted_objects.get(obj)
        ref(grant is not None and text(grant, "allowEdit") == "true", f"{name}: must grant edit on {obj}")
    if persona.get("principal"):
        ref(bool(granted_principals), f"{name}: must grant the Outpost callout principal")
    must_not = persona["must_not"]
    ref("principal" not in must_not or not granted_principals, f"{name}: must not grant the callout principal")
    ref("custom permission" not in must_not or not granted_custom, f"{name}: must not grant custom permissions")
    ref("user permissions" not in must_not or not granted_user, f"{name}: must not grant user permissions")
    ref("objects" not in must_not or not granted_objects, f"{name}: must not grant object permissions")
    ref("pages" not in must_not or not granted_pages, f"{name}: must not grant pages")
    ref("tabs" not in must_not or not granted_tabs, f"{name}: must not grant tabs")

# The platform-event trigger runs as the integration user, so the callouts do (not the editing user).
subscriber = load(SUBSCRIBER_CONFIG)
if subscriber is not None:
    consumer = text(subscriber, "platformEventConsumer")
    ref((SRC / "triggers" / f"{consumer}.trigger").is_file(), f"{rel(SUBSCRIBER_CONFIG)}: trigger {consumer} does not exist")
    ref(text(subscriber, "user") == PLACEHOLDER_USERNAME, f"{rel(SUBSCRIBER_CONFIG)}: user must be the placeholder {PLACEHOLDER_USERNAME}")
    ref(
        any(r.get("stringToReplace") == PLACEHOLDER_USERNAME and r.get("replaceWithEnv") == "OUTPOST_INTEGRATION_USERNAME"
            for r in project.get("replacements", [])),
        "sfdx-project.json: must replace the subscriber's user with $OUTPOST_INTEGRATION_USERNAME",
    )
event_triggers = [p for p in (SRC / "triggers").glob("*.trigger") if re.search(r"\bon Outpost_Sync__e\s*\(", p.read_text())]
ref(len(event_triggers) == 1, "exactly one trigger subscribes to Outpost_Sync__e")

# 5. External Client Apps and OAuth scopes --------------------------------------------------------
# Two apps, so that the key that mints integration tokens cannot mint them for anyone else:
# Outpost (sign-in and canvas: identity scopes, no JWT bearer) and Outpost_Integration (api scope,
# pre-authorized for the Outpost Integration User permission set only).

# How the scope names of commaSeparatedOauthScopes map to the OAuth scope values a client requests
# (https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_tokens_scopes.htm: "You can
# request profile, email, address, or phone individually to get the same result as using id").
SCOPE_VALUES = {
    "Api": {"api"},
    "Basic": {"id", "profile", "email", "address", "phone"},
    "OpenID": {"openid"},
    "Web": {"web", "visualforce"},
    "RefreshToken": {"refresh_token", "offline_access"},
    "Full": {"full"},
}
SSO_SOURCE = ROOT.parent.parent / "functions" / "entry" / "src" / "sso.rs"
INTEGRATION_SCOPES = {"api"}
APPS = {
    "Outpost": {"plugins": {"extlClntAppOauthSettings", "extlClntAppCanvasSettings"}, "pre_authorized": {"Outpost_User"}},
    "Outpost_Integration": {"plugins": {"extlClntAppOauthSettings"}, "pre_authorized": {"Outpost_Integration_User"}},
}
PACKAGED_PLUGINS = ("extlClntAppOauthSettings", "extlClntAppCanvasSettings")
ORG_PLUGINS = ("extlClntAppGlobalOauthSets", "extlClntAppOauthPolicies", "extlClntAppPolicies")

eca_names = {p.name.split(".")[0] for p in (SRC / "externalClientApps").glob("*.eca-meta.xml")}
ref(eca_names == set(APPS), f"externalClientApps: expected {sorted(APPS)}, found {sorted(eca_names)}")
for folder in (*PACKAGED_PLUGINS, *ORG_PLUGINS):
    home = SRC if folder in PACKAGED_PLUGINS else ORG
    stray = (ORG if home is SRC else SRC) / folder
    ref(not stray.exists(), f"{rel(stray)}: {folder} belongs in {rel(home)}")
    owners = []
    for path in sorted((home / folder).glob("*-meta.xml")):
        if path in parsed:
            owners.append(text(parsed[path], "externalClientApplication"))
    for app, spec in APPS.items():
        wanted = folder in ORG_PLUGINS or folder in spec["plugins"]
        ref(owners.count(app) == (1 if wanted else 0), f"{rel(home / folder)}: expected {int(wanted)} file(s) for {app}")
    for owner in owners:
        ref(owner in APPS, f"{rel(home / folder)}: a file belongs to unknown external client app {owner}")


def granted_scope_values(app: str) -> set[str]:
    for path in (SRC / "extlClntAppOauthSettings").glob("*-meta.xml"):
        root = parsed.get(path)
        if root is not None and text(root, "externalClientApplication") == app:
            names = [name.strip() for name in (text(root, "commaSeparatedOauthScopes") or "").split(",") if name.strip()]
            for name in names:
                ref(name in SCOPE_VALUES, f"{rel(path)}: unknown scope name {name}")
            return set().union(*(SCOPE_VALUES.get(name, set()) for name in names))
    return set()


sign_in_scopes = granted_scope_values("Outpost")
integration_scopes = granted_scope_values("Outpost_Integration")
match = re.search(r'const SCOPE: &str = "([^"]*)";', SSO_SOURCE.read_text()) if SSO_SOURCE.is_file() else None
if match is None:
    fail(f"{SSO_SOURCE}: no `const SCOPE: &str = \"...\";` to compare the sign-in app's scopes with")
else:
    requested = set(match.group(1).split())
    ref(requested <= sign_in_scopes, f"Outpost app allows {sorted(sign_in_scopes)}; Outpost's sign-in requests {sorted(requested)}")
    notes.append(f"sign-in scopes {' '.join(sorted(requested))} covered by the Outpost app")
ref("api" not in sign_in_scopes and "full" not in sign_in_scopes, "Outpost app: sign-in needs identity scopes only, no API access")
ref(INTEGRATION_SCOPES <= integration_scopes, f"Outpost_Integration app must allow {sorted(INTEGRATION_SCOPES)}")
ref(
    not integration_scopes & {"refresh_token", "full", "web"},
    f"Outpost_Integration app: JWT bearer and client credentials need no {sorted(integration_scopes - INTEGRATION_SCOPES)}",
)

for app, spec in APPS.items():
    policy = next(
        (r for p, r in parsed.items() if p.parent == ORG / "extlClntAppOauthPolicies" and text(r, "externalClientApplication") == app),
        None,
    )
    if policy is not None:
        named = {name.strip() for name in (text(policy, "commaSeparatedPermissionSet") or "").split(",") if name.strip()}
        ref(named == spec["pre_authorized"], f"{app} policies: pre-authorize exactly {sorted(spec['pre_authorized'])}, found {sorted(named)}")
        ref(text(policy, "permittedUsersPolicyType") == "AdminApprovedPreAuthorized", f"{app} policies: admin approved users only")
    global_oauth = next(
        (r for p, r in parsed.items() if p.parent == ORG / "extlClntAppGlobalOauthSets" and text(r, "externalClientApplication") == app),
        None,
    )
    if global_oauth is not None:
        ref(text(global_oauth, "isPkceRequired") == "true", f"{app} global OAuth settings: PKCE must be required")
        ref(
            text(global_oauth, "isNamedUserJwtEnabled") == "false",
            f"{app} global OAuth settings: JWT-based access tokens would break $Api.Session_ID and Outpost's token checks",
        )
        for secret in ("consumerKey", "consumerSecret"):
            ref(text(global_oauth, secret) is None, f"{app} global OAuth settings: {secret} must never be committed")
        if app != "Outpost_Integration":
            ref(text(global_oauth, "certificate") is None, f"{app}: a certificate would enable JWT bearer for its users")
            ref(text(global_oauth, "isClientCredentialsFlowEnabled") == "false", f"{app}: no client credentials flow")

arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
arguments.add_argument("--converted", type=Path, help="output of sf project convert source with OUTPOST_HOST set")
options = arguments.parse_args()
if options.converted:
    check_replaced(options.converted)

# Summary --------------------------------------------------------------------------------------

print(
    f"metadata: {counts['xml']} XML files well-formed, {counts['entry points']} entry points, "
    f"{counts['references']} cross-references"
    + (f", host replaced in {counts['replaced']} converted files" if "replaced" in counts else "")
)
for note in notes:
    print(f"  note   {note}")
for error in errors:
    print(f"  FAIL   {error}")
print(f"metadata: {'OK' if not errors else str(len(errors)) + ' problem(s)'}")
sys.exit(1 if errors else 0)
