<?php
// One operation through PHP's SoapClient, its outcome printed as JSON exactly as PHP decoded it:
// {"result": ...} or {"fault": {"faultcode", "faultstring", "detail"}}.
//
// usage: LEDGER_USERNAME=... LEDGER_PASSWORD=... php call.php WSDL_URL 1.1|1.2 OPERATION JSON_PARAMETERS

require __DIR__ . '/client.php';

if ($argc !== 5) {
    fwrite(STDERR, "usage: php call.php WSDL_URL 1.1|1.2 OPERATION JSON_PARAMETERS\n");
    exit(2);
}
[, $wsdl, $version, $operation, $parameters] = $argv;
[$username, $password] = ledger_credentials();

$client = ledger_client($wsdl, $version, $username, $password);
try {
    $outcome = ['result' => $client->$operation(json_decode($parameters, true, flags: JSON_THROW_ON_ERROR))];
} catch (SoapFault $fault) {
    $outcome = ['fault' => [
        'faultcode' => $fault->faultcode,
        'faultstring' => $fault->faultstring,
        'detail' => $fault->detail ?? null,
    ]];
}
echo json_encode($outcome, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES), "\n";
