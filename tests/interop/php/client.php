<?php
// A soap-ledger client built the way PHP integrators build one: the stock SoapClient in WSDL mode, plus a
// hand-written WS-Security UsernameToken header, since ext/soap has no WS-Security of its own.

const WSSE_NS = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd';
const PASSWORD_TEXT = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText';
const SOAP_VERSIONS = ['1.1' => SOAP_1_1, '1.2' => SOAP_1_2];

function ledger_client(string $wsdl, string $version, ?string $username = null, ?string $password = null): SoapClient
{
    if (!isset(SOAP_VERSIONS[$version])) {
        throw new InvalidArgumentException("SOAP version must be 1.1 or 1.2, not '$version'");
    }
    $client = new SoapClient($wsdl, [
        'soap_version' => SOAP_VERSIONS[$version],
        'exceptions' => true,
        'trace' => true,
        // A cached WSDL would hide a contract change from the very run that is meant to catch it.
        'cache_wsdl' => WSDL_CACHE_NONE,
        // Without it a list holding one item (lines/line) comes back as a bare object instead of an array.
        'features' => SOAP_SINGLE_ELEMENT_ARRAYS,
    ]);
    if ($username !== null) {
        $client->__setSoapHeaders([username_token($username, $password ?? '')]);
    }
    return $client;
}

function username_token(string $username, string $password): SoapHeader
{
    // XSD_ANYXML copies the markup into the Header verbatim, so escaping the values is up to us.
    $escape = fn (string $text): string => htmlspecialchars($text, ENT_XML1 | ENT_QUOTES, 'UTF-8');
    $token = '<wsse:Security xmlns:wsse="' . WSSE_NS . '"><wsse:UsernameToken>'
        . '<wsse:Username>' . $escape($username) . '</wsse:Username>'
        . '<wsse:Password Type="' . PASSWORD_TEXT . '">' . $escape($password) . '</wsse:Password>'
        . '</wsse:UsernameToken></wsse:Security>';
    return new SoapHeader(WSSE_NS, 'Security', new SoapVar($token, XSD_ANYXML));
}

/** Credentials come from the environment, because command-line arguments are visible to every user of the host. */
function ledger_credentials(): array
{
    $username = getenv('LEDGER_USERNAME');
    $password = getenv('LEDGER_PASSWORD');
    if ($username === false || $password === false) {
        fwrite(STDERR, "set LEDGER_USERNAME and LEDGER_PASSWORD\n");
        exit(2);
    }
    return [$username, $password];
}

/** The local part of a fault code: PHP hands it over with whatever prefix the server chose (soap11env:Client). */
function fault_code_name(SoapFault $fault): string
{
    $code = (string) $fault->faultcode;
    $colon = strrpos($code, ':');
    return $colon === false ? $code : substr($code, $colon + 1);
}
