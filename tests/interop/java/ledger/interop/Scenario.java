package ledger.interop;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.math.BigDecimal;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

import javax.xml.datatype.DatatypeFactory;
import javax.xml.datatype.XMLGregorianCalendar;
import javax.xml.ws.BindingProvider;
import javax.xml.ws.handler.Handler;

import ledger.client.Account;
import ledger.client.AccountInput;
import ledger.client.AccountType;
import ledger.client.Balance;
import ledger.client.Book;
import ledger.client.CamtStatement;
import ledger.client.Entry;
import ledger.client.EntryInput;
import ledger.client.EntryPage;
import ledger.client.Ledger;
import ledger.client.LedgerFault_Exception;
import ledger.client.LedgerService;
import ledger.client.LineInput;
import ledger.client.LineInputArray;
import ledger.client.MetadataItem;
import ledger.client.MetadataItemArray;
import ledger.client.Side;
import ledger.client.Statement;
import ledger.client.StatementLine;

/**
 * The ledger scenario through nothing but the classes wsimport generates (package ledger.client) and a
 * WS-Security handler: create a book, open two accounts, post a sale tagged with metadata, read the
 * metadata back (GetEntry, and ListEntries filtered by it), read the balance and a statement page, download
 * the month's camt.053 statement, then post an unbalanced entry and catch the typed fault.
 *
 * <p>Usage: {@code Scenario ENDPOINT USERNAME PASSWORD BOOK}, e.g. http://host/v1/soap11. Prints
 * {@code key=value} lines, in UTF-8, and exits non-zero on any unexpected outcome; writes the camt.053 document
 * into the working directory, as MESSAGE-ID.xml.
 */
public final class Scenario {
    private static final BigDecimal SALE = new BigDecimal("100.25");
    // Beyond ASCII (UTF-8's two- and three-byte sequences) and markup: a camt.053 document that any stack
    // decoded as text and encoded again would not come out as the bytes the service sent.
    private static final String SALE_DESCRIPTION = "Caf\u00e9 cr\u00e8me & <tarte> \u2014 2 \u20ac, Z\u00fcrich";

    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: Scenario ENDPOINT USERNAME PASSWORD BOOK");
            System.exit(2);
        }
        // Whatever the locale's charset: metadata beyond ASCII must reach the test as it came back.
        System.setOut(new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8));
        String endpoint = args[0];
        String bookCode = args[3];
        UsernameTokenHandler security = new UsernameTokenHandler(args[1], args[2]);
        Ledger ledger = connect(endpoint, security);
        try {
            run(ledger, bookCode, security);
        } catch (LedgerFault_Exception e) {
            fail("unexpected fault " + e.getFaultInfo().getCode() + ": " + e.getFaultInfo().getMessage());
        }
    }

    static Ledger connect(String endpoint, UsernameTokenHandler security) throws Exception {
        // The no-argument constructor would read the WSDL from wherever wsimport read it; the
        // binding (SOAP 1.1 or 1.2) comes from the WSDL read here.
        Ledger ledger = new LedgerService(new URL(endpoint + "?wsdl")).getLedger();
        BindingProvider provider = (BindingProvider) ledger;
        provider.getRequestContext().put(BindingProvider.ENDPOINT_ADDRESS_PROPERTY, endpoint);
        // getHandlerChain() returns a copy: the handler takes effect only once the chain is set back.
        @SuppressWarnings("rawtypes")
        List<Handler> chain = provider.getBinding().getHandlerChain();
        chain.add(security);
        provider.getBinding().setHandlerChain(chain);
        return ledger;
    }

    static void run(Ledger ledger, String book, UsernameTokenHandler security) throws Exception {
        Book created = ledger.createBook(book, "Java interop " + book);
        print("soap.envelope", security.envelopeNamespace());
        print("book", created.getCode());

        for (Account account : List.of(
                ledger.openAccount(book, account("cash", "Cash", AccountType.ASSET, "USD")),
                ledger.openAccount(book, account("sales", "Sales", AccountType.INCOME, "USD")))) {
            print("account." + account.getCode(),
                    account.getType() + " " + account.getCurrency() + " " + account.getStatus()
                            + " noNegativeBalance=" + account.isNoNegativeBalance());
        }

        EntryInput sale = entry("SALE-1", "2026-03-01",
                line("cash", Side.DEBIT, SALE), line("sales", Side.CREDIT, SALE));
        sale.setDescription(SALE_DESCRIPTION);
        // docs/integrators.md's Java metadata snippet, line for line (test_interop_java checks that it stays so).
        String[][] given = {{"site", "Zürich – Café"}, {"costCentre", "CC-7"}, {"invoice", "INV-2026-031"}};
        sale.setMetadata(new MetadataItemArray());
        for (String[] keyAndValue : given) {
            MetadataItem item = new MetadataItem();
            item.setKey(keyAndValue[0]);
            item.setValue(keyAndValue[1]);
            sale.getMetadata().getItem().add(item);
        }
        Entry posted = ledger.postEntry(book, sale);
        MetadataItemArray shown = ledger.getEntry(book, posted.getReference()).getMetadata();   // null if none
        print("entry", posted.getReference() + " " + posted.getStatus()
                + " lines=" + posted.getLines().getLine().size());
        print("entry.metadata", metadata(posted.getMetadata()));
        print("getEntry.metadata", metadata(shown));

        // docs/integrators.md's Java ListEntries snippet, line for line (test_interop_java checks that it stays so).
        DatatypeFactory dates = DatatypeFactory.newInstance();
        List<Entry> found = new ArrayList<>();
        String pageToken = null;
        do {
            EntryPage page = ledger.listEntries(book, dates.newXMLGregorianCalendar("2026-03-01"),
                    dates.newXMLGregorianCalendar("2026-03-31"), null, "site", "Zürich – Café", null, pageToken);
            found.addAll(page.getEntries().getEntry());
            pageToken = page.getNextPageToken();
        } while (pageToken != null);   // a page may hold fewer entries than asked, or none, and still lead on
        print("listEntries", found.stream().map(listed -> listed.getReference() + " " + metadata(listed.getMetadata()))
                .collect(Collectors.joining(" | ")));

        Balance balance = ledger.getBalance(book, "cash", null);
        expect(SALE.equals(balance.getBalance()), "balance " + balance.getBalance() + " is not exactly " + SALE);
        print("balance", balance.getBalance().toPlainString());

        Statement statement = ledger.getStatement(book, "cash", date("2026-01-01"), date("2026-12-31"), 50, null);
        List<StatementLine> lines = statement.getLines().getLine();
        expect(!lines.isEmpty(), "the statement has no lines");
        print("statement.lines", String.valueOf(lines.size()));
        print("statement.runningBalance", lines.get(lines.size() - 1).getRunningBalance().toPlainString());
        print("statement.closingBalance", statement.getClosingBalance().toPlainString());
        print("camt.messageId", downloadCamtStatement(ledger, book, "cash"));

        try {
            ledger.postEntry(book, entry("SALE-2", "2026-03-02",
                    line("cash", Side.DEBIT, new BigDecimal("10.00")),
                    line("sales", Side.CREDIT, new BigDecimal("9.99"))));
            fail("an unbalanced entry was accepted");
        } catch (LedgerFault_Exception e) {
            String code = e.getFaultInfo().getCode();
            print("fault", code);
            expect("Unbalanced".equals(code), "the unbalanced entry failed with " + code + ", not Unbalanced");
        }
        print("scenario", "ok");
    }

    /**
     * March's camt.053 statement of the account, written to MESSAGE-ID.xml; its message id. Up to the
     * return, these are the lines of docs/integrators.md's Java camt.053 snippet as they are
     * (test_interop_java checks that they stay so).
     */
    static String downloadCamtStatement(Ledger ledger, String book, String account) throws Exception {
        DatatypeFactory dates = DatatypeFactory.newInstance();
        CamtStatement camt = ledger.getCamtStatement(book, account,
                dates.newXMLGregorianCalendar("2026-03-01"), dates.newXMLGregorianCalendar("2026-03-31"));
        Files.write(Paths.get(camt.getMessageId() + ".xml"), camt.getDocument());   // byte[], not Base64 text
        return camt.getMessageId();
    }

    /** An entry's metadata as the test reads it: key=value items, in the order they came, or "none". */
    static String metadata(MetadataItemArray metadata) {
        if (metadata == null) {
            return "none";
        }
        return metadata.getItem().stream().map(item -> item.getKey() + "=" + item.getValue())
                .collect(Collectors.joining("; "));
    }

    static AccountInput account(String code, String name, AccountType type, String currency) {
        AccountInput account = new AccountInput();
        account.setCode(code);
        account.setName(name);
        account.setType(type);
        account.setCurrency(currency);
        return account;
    }

    static EntryInput entry(String reference, String effectiveDate, LineInput... lines) throws Exception {
        EntryInput entry = new EntryInput();
        entry.setReference(reference);
        entry.setEffectiveDate(date(effectiveDate));
        entry.setLines(new LineInputArray());
        entry.getLines().getLine().addAll(List.of(lines));
        return entry;
    }

    static LineInput line(String account, Side side, BigDecimal amount) {
        LineInput line = new LineInput();
        line.setAccount(account);
        line.setSide(side);
        line.setAmount(amount);
        return line;
    }

    static XMLGregorianCalendar date(String isoDate) throws Exception {
        return DatatypeFactory.newInstance().newXMLGregorianCalendar(isoDate);
    }

    static void print(String key, String value) {
        System.out.println(key + "=" + value);
    }

    static void expect(boolean condition, String problem) {
        if (!condition) {
            fail(problem);
        }
    }

    static void fail(String problem) {
        System.out.flush();
        System.err.println("scenario failed: " + problem);
        System.exit(1);
    }
}
