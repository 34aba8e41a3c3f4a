<?php
// What PHP's SoapClient makes of the WSDL: its operation signatures and its types, as JSON.
//
// usage: php describe.php WSDL_URL 1.1|1.2

require __DIR__ . '/client.php';

if ($argc !== 3) {
    fwrite(STDERR, "usage: php describe.php WSDL_URL 1.1|1.2\n");
    exit(2);
}
$client = ledger_client($argv[1], $argv[2]);
echo json_encode(['functions' => $client->__getFunctions(), 'types' => $client->__getTypes()], JSON_PRETTY_PRINT), "\n";
