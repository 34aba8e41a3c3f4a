<?php
// The whole integrator scenario through PHP's SoapClient: book, two accounts, a balanced entry tagged with
// metadata, that metadata read back (GetEntry, and ListEntries filtered by it), the entry's balance, statement
// and camt.053 statement, then an unbalanced entry that must come back as a SoapFault carrying LedgerFault code
// Unbalanced.
//
// usage: LEDGER_USERNAME=... LEDGER_PASSWORD=... php scenario.php WSDL_URL 1.1|1.2 BOOK_CODE
// Prints key=value lines; exits 1 on any unexpected outcome, 2 on bad usage. Writes the camt.053 document
// into the working directory, as MESSAGE-ID.xml.

require __DIR__ . '/client.php';

function expect(bool $condition, string $what): void
{
    if (!$condition) {
        fwrite(STDERR, "unexpected: $what\n");
        exit(1);
    }
}

/** Metadata items as the test reads them: key=value, in the order they came. */
function metadata_text(array $items): string
{
    return implode('; ', array_map(fn (object $item): string => "{$item->key}={$item->value}", $items));
}

if ($argc !== 4) {
    fwrite(STDERR, "usage: php scenario.php WSDL_URL 1.1|1.2 BOOK_CODE\n");
    exit(2);
}
[, $wsdl, $version, $book] = $argv;
[$username, $password] = ledger_credentials();
// A trailing zero that a float would drop: the balance must come back as this very string.
$amount = '1234.50';

$client = ledger_client($wsdl, $version, $username, $password);
try {
    $created = $client->CreateBook(['code' => $book, 'name' => "PHP interop $book"]);
    expect($created->book->code === $book, 'CreateBook returned book ' . var_export($created->book->code, true));
    echo "book={$created->book->code}\n";

    foreach ([['cash', 'Cash', 'ASSET'], ['sales', 'Sales', 'INCOME']] as [$code, $name, $type]) {
        $opened = $client->OpenAccount(['book' => $book, 'account' => [
            'code' => $code, 'name' => $name, 'type' => $type, 'currency' => 'USD',
        ]]);
        expect($opened->account->status === 'OPEN', "account $code is {$opened->account->status}");
        echo "account={$opened->account->code} {$opened->account->type} {$opened->account->currency}\n";
    }

    $sale = [
        'reference' => 'PHP-1',
        'effectiveDate' => '2026-03-01',
        // Beyond ASCII (UTF-8's two- and three-byte sequences) and markup: a camt.053 document that PHP
        // decoded as text and encoded again would not come out as the bytes the service sent.
        'description' => 'Café crème & <tarte> — 2 €, Zürich',
        'lines' => ['line' => [
            ['account' => 'cash', 'side' => 'DEBIT', 'amount' => $amount],
            ['account' => 'sales', 'side' => 'CREDIT', 'amount' => $amount],
        ]],
    ];
    // docs/integrators.md's PHP metadata snippet, line for line (test_interop_php checks that it stays so).
    $sale['metadata'] = ['item' => [
        ['key' => 'site', 'value' => 'Zürich – Café'],
        ['key' => 'costCentre', 'value' => 'CC-7'],
        ['key' => 'invoice', 'value' => 'INV-2026-031'],
    ]];
    $posted = $client->PostEntry(['book' => $book, 'entry' => $sale])->entry;
    $entry = $client->GetEntry(['book' => $book, 'reference' => $posted->reference])->entry;
    $metadata = $entry->metadata->item ?? [];    // in key order; an entry without metadata has no `metadata`
    expect(is_array($posted->lines->line), 'entry lines are not an array');
    echo "entry={$posted->reference} {$posted->status} lines=" . count($posted->lines->line) . "\n";
    echo 'entry_metadata=' . metadata_text($posted->metadata->item ?? []) . "\n";
    echo 'get_entry_metadata=' . metadata_text($metadata) . "\n";

    // docs/integrators.md's PHP ListEntries snippet, line for line (test_interop_php checks that it stays so).
    $found = [];
    $pageToken = null;
    do {
        $page = $client->ListEntries(['book' => $book, 'fromDate' => '2026-03-01', 'toDate' => '2026-03-31',
            'metadataKey' => 'site', 'metadataValue' => 'Zürich – Café', 'pageToken' => $pageToken])->page;
        $found = array_merge($found, $page->entries->entry ?? []);    // an array even of one entry
        $pageToken = $page->nextPageToken ?? null;
    } while ($pageToken !== null);    // a page may hold fewer entries than asked, or none, and still lead on
    $listed = array_map(fn (object $listedEntry): string => "{$listedEntry->reference} "
        . metadata_text($listedEntry->metadata->item ?? []), $found);
    echo 'listed=' . implode(' | ', $listed) . "\n";

    $balance = $client->GetBalance(['book' => $book, 'account' => 'cash'])->balance;
    expect($balance->balance === $amount, 'balance ' . var_export($balance->balance, true) . " is not '$amount'");
    echo "balance={$balance->balance}\n";

    $statement = $client->GetStatement([
        'book' => $book, 'account' => 'cash', 'fromDate' => '2026-01-01', 'toDate' => '2026-12-31',
    ])->statement;
    // SOAP_SINGLE_ELEMENT_ARRAYS is what makes this one-line page an array; an empty page has no `line` at all.
    $lines = $statement->lines->line ?? [];
    expect(is_array($lines), 'a one-line statement came back as ' . gettype($lines) . ', not an array');
    expect(!isset($statement->nextPageToken), 'a one-line statement has a next page');
    echo 'statement_lines=' . count($lines) . "\n";
    foreach ($lines as $line) {
        echo "statement_line={$line->reference} {$line->side} {$line->amount} running={$line->runningBalance}\n";
    }
    echo "closing_balance={$statement->closingBalance}\n";

    // docs/integrators.md's PHP camt.053 snippet, line for line (test_interop_php checks that it stays so).
    $camt = $client->GetCamtStatement(['book' => $book, 'account' => 'cash',
        'fromDate' => '2026-03-01', 'toDate' => '2026-03-31'])->statement;
    file_put_contents($camt->messageId . '.xml', $camt->document);    // do not base64_decode it again
    $document = new DOMDocument();
    $document->loadXML($camt->document, LIBXML_NONET);
    echo "camt_message_id={$camt->messageId}\n";
    echo 'camt_document_message_id=' . $document->getElementsByTagName('MsgId')->item(0)->textContent . "\n";
} catch (SoapFault $fault) {
    fwrite(STDERR, "unexpected fault {$fault->faultcode}: {$fault->faultstring}\n"
        . 'detail: ' . json_encode($fault->detail ?? null) . "\n"
        . "request: {$client->__getLastRequest()}\nresponse: {$client->__getLastResponse()}\n");
    exit(1);
}

try {
    $client->PostEntry(['book' => $book, 'entry' => [
        'reference' => 'PHP-2',
        'effectiveDate' => '2026-03-02',
        'lines' => ['line' => [
            ['account' => 'cash', 'side' => 'DEBIT', 'amount' => '10.00'],
            ['account' => 'sales', 'side' => 'CREDIT', 'amount' => '9.99'],
        ]],
    ]]);
    expect(false, 'an unbalanced entry was accepted');
} catch (SoapFault $fault) {
    $ledgerFault = $fault->detail->LedgerFault ?? null;
    expect($ledgerFault !== null, 'fault without LedgerFault detail: ' . $client->__getLastResponse());
    echo "faultcode={$fault->faultcode}\n";
    echo 'faultcode_name=' . fault_code_name($fault) . "\n";
    echo "fault={$ledgerFault->code}\n";
    echo "fault_field={$ledgerFault->field}\n";
    expect($ledgerFault->code === 'Unbalanced', "fault code {$ledgerFault->code}");
}
