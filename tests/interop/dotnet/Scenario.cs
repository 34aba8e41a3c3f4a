// The ledger scenario through nothing but the proxy mono's `wsdl` generates (namespace Ledger.Client) and
// the UsernameToken header of UsernameToken.cs: create a book, open two accounts, post a sale tagged with
// metadata, read the metadata back (GetEntry, and ListEntries filtered by it), read the balance and a statement
// page, then post an unbalanced entry and read LedgerFault's code from the fault.
//
// Usage: LEDGER_USERNAME=... LEDGER_PASSWORD=... mono Scenario.exe ENDPOINT BOOK, e.g. http://host/v1/soap11.
// Credentials come from the environment because command-line arguments are visible to every user of the host.
// Prints key=value lines, in UTF-8; exits 1 on any unexpected outcome, 2 on bad usage.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using System.Web.Services.Protocols;
using System.Xml;

using Ledger.Client;

namespace Ledger.Interop
{
    public static class Scenario
    {
        const string Tns = "urn:soap-ledger:v1";
        // A decimal keeps the scale it was parsed with, so printing it shows the digits that came over the wire.
        const decimal Sale = 100.25m;
        // Beyond ASCII (UTF-8's two- and three-byte sequences), escaped so that no compiler default decides it.
        const string Site = "Z\u00fcrich \u2013 Caf\u00e9";

        public static int Main(string[] args)
        {
            string username = Environment.GetEnvironmentVariable("LEDGER_USERNAME");
            string password = Environment.GetEnvironmentVariable("LEDGER_PASSWORD");
            if (args.Length != 2 || username == null || password == null)
            {
                Console.Error.WriteLine("usage: LEDGER_USERNAME=... LEDGER_PASSWORD=... Scenario ENDPOINT BOOK");
                return 2;
            }
            // Whatever the locale's charset: metadata beyond ASCII must reach the test as it came back.
            Console.OutputEncoding = new UTF8Encoding(false);
            // The generated constructor points at the address the WSDL was generated from; Url overrides it.
            var ledger = new LedgerService { Url = args[0], Security = new SecurityHeader(username, password) };
            try
            {
                Run(ledger, args[1]);
                return 0;
            }
            catch (SoapException e)
            {
                return Fail("unexpected fault " + LedgerFaultCode(e) + ": " + e.Message);
            }
            catch (ScenarioFailed e)
            {
                return Fail(e.Message);
            }
        }

        static void Run(LedgerService ledger, string bookCode)
        {
            // Default means SOAP 1.1; a proxy generated with /protocol:SOAP12 sets Soap12.
            Print("soap.version", ledger.SoapVersion.ToString());
            Book book = ledger.CreateBook(bookCode, ".NET interop " + bookCode);
            Print("book", book.code);

            foreach (Account account in new[] {
                ledger.OpenAccount(bookCode, NewAccount("cash", "Cash", AccountType.ASSET, "USD")),
                ledger.OpenAccount(bookCode, NewAccount("sales", "Sales", AccountType.INCOME, "USD")) })
            {
                Print("account." + account.code, account.type + " " + account.currency + " " + account.status
                      + " noNegativeBalance=" + account.noNegativeBalance.ToString().ToLowerInvariant());
            }

            EntryInput saleInput = NewEntry("SALE-1", new DateTime(2026, 3, 1),
                NewLine("cash", Side.DEBIT, Sale), NewLine("sales", Side.CREDIT, Sale));
            // Out of key order: every read gives the items back in key order.
            saleInput.metadata = new[] {
                new MetadataItem { key = "site", value = Site },
                new MetadataItem { key = "costCentre", value = "CC-7" },
                new MetadataItem { key = "invoice", value = "INV-2026-031" } };
            Entry sale = ledger.PostEntry(bookCode, saleInput);
            Print("entry", sale.reference + " " + sale.status + " lines=" + sale.lines.Length);
            Print("entry.metadata", Metadata(sale.metadata));
            Print("getEntry.metadata", Metadata(ledger.GetEntry(bookCode, sale.reference).metadata));

            var found = new List<Entry>();
            string pageToken = null;
            do
            {
                // pageSizeSpecified=false leaves pageSize out: the service's 100.
                EntryPage page = ledger.ListEntries(bookCode, new DateTime(2026, 3, 1), new DateTime(2026, 3, 31),
                    null, "site", Site, 0, false, pageToken);
                found.AddRange(page.entries);
                pageToken = page.nextPageToken;
            } while (pageToken != null);   // a page may hold fewer entries than asked, or none, and still lead on
            Print("listEntries", string.Join(" | ",
                found.ConvertAll(listed => listed.reference + " " + Metadata(listed.metadata))));

            // asOf is optional: asOfSpecified=false leaves the element out, which means "today".
            Balance balance = ledger.GetBalance(bookCode, "cash", default(DateTime), false);
            Expect(balance.balance == Sale, "balance " + Text(balance.balance) + " is not " + Text(Sale));
            Print("balance", Text(balance.balance));

            Statement statement = ledger.GetStatement(bookCode, "cash", new DateTime(2026, 1, 1),
                new DateTime(2026, 12, 31), 50, true, null);
            StatementLine[] lines = statement.lines;
            Expect(lines != null && lines.Length > 0, "the statement has no lines");
            Expect(statement.nextPageToken == null, "a one-line statement has a next page");
            Print("statement.lines", lines.Length.ToString(CultureInfo.InvariantCulture));
            Print("statement.runningBalance", Text(lines[lines.Length - 1].runningBalance));
            Print("statement.closingBalance", Text(statement.closingBalance));

            try
            {
                ledger.PostEntry(bookCode, NewEntry("SALE-2", new DateTime(2026, 3, 2),
                    NewLine("cash", Side.DEBIT, 10.00m), NewLine("sales", Side.CREDIT, 9.99m)));
                throw new ScenarioFailed("an unbalanced entry was accepted");
            }
            catch (SoapException e)
            {
                string code = LedgerFaultCode(e);
                Print("faultcode", e.Code.Name);
                Print("fault", code);
                Expect(code == "Unbalanced", "the unbalanced entry failed with " + code + ", not Unbalanced");
            }
            Print("scenario", "ok");
        }

        /// <summary>
        /// LedgerFault's code from the fault's detail. ASMX proxies do not map wsdl:fault to a type, so every
        /// fault is a SoapException whose Detail is the raw detail element.
        /// </summary>
        static string LedgerFaultCode(SoapException e)
        {
            if (e.Detail == null)
            {
                return "(no detail)";
            }
            var names = new XmlNamespaceManager(e.Detail.OwnerDocument?.NameTable ?? new NameTable());
            names.AddNamespace("l", Tns);
            XmlNode code = e.Detail.SelectSingleNode("l:LedgerFault/l:code", names);
            return code == null ? "(no LedgerFault in " + e.Detail.OuterXml + ")" : code.InnerText;
        }

        static AccountInput NewAccount(string code, string name, AccountType type, string currency)
        {
            return new AccountInput { code = code, name = name, type = type, currency = currency };
        }

        static EntryInput NewEntry(string reference, DateTime effectiveDate, params LineInput[] lines)
        {
            return new EntryInput { reference = reference, effectiveDate = effectiveDate, lines = lines };
        }

        static LineInput NewLine(string account, Side side, decimal amount)
        {
            return new LineInput { account = account, side = side, amount = amount };
        }

        /// <summary>An entry's metadata as the test reads it: key=value items as they came, or "none".</summary>
        static string Metadata(MetadataItem[] items)
        {
            return items == null
                ? "none" : string.Join("; ", Array.ConvertAll(items, item => item.key + "=" + item.value));
        }

        static string Text(decimal amount)
        {
            return amount.ToString(CultureInfo.InvariantCulture);
        }

        static void Print(string key, string value)
        {
            Console.WriteLine(key + "=" + value);
        }

        static void Expect(bool condition, string problem)
        {
            if (!condition)
            {
                throw new ScenarioFailed(problem);
            }
        }

        static int Fail(string problem)
        {
            Console.Out.Flush();
            Console.Error.WriteLine("scenario failed: " + problem);
            return 1;
        }

        sealed class ScenarioFailed : Exception
        {
            public ScenarioFailed(string message) : base(message) { }
        }
    }
}
