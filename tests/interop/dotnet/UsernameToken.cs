// The WS-Security UsernameToken header (PasswordText), for the ASMX-style proxy that `wsdl` generates.
//
// The WSDL does not declare the header (WS-Security is a policy of the service, not part of each message),
// so the generated methods carry no [SoapHeader] attribute to attach it by. The proxy class is partial,
// and SoapHttpClientProtocol hands every outgoing message to GetWriterForMessage before it is written:
// adding the header there puts it on every call without touching generated code.
using System.Web.Services.Protocols;
using System.Xml;
using System.Xml.Serialization;

namespace Ledger.Client
{
    public partial class LedgerService
    {
        /// <summary>Sent with every request once set.</summary>
        public SecurityHeader Security { get; set; }

        protected override XmlWriter GetWriterForMessage(SoapClientMessage message, int bufferSize)
        {
            if (Security != null)
            {
                message.Headers.Add(Security);
            }
            return base.GetWriterForMessage(message, bufferSize);
        }
    }

    [XmlRoot("Security", Namespace = SecurityHeader.Wsse)]
    public class SecurityHeader : SoapHeader
    {
        public const string Wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
        public const string PasswordText =
            "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText";

        [XmlElement("UsernameToken")]
        public UsernameToken Token;

        // XmlSerializer needs a parameterless constructor.
        public SecurityHeader() { }

        public SecurityHeader(string username, string password)
        {
            MustUnderstand = true;
            Token = new UsernameToken
            {
                Username = username,
                Password = new PasswordElement { Type = PasswordText, Value = password },
            };
        }
    }

    public class UsernameToken
    {
        [XmlElement("Username")]
        public string Username;

        [XmlElement("Password")]
        public PasswordElement Password;
    }

    public class PasswordElement
    {
        [XmlAttribute("Type")]
        public string Type;

        [XmlText]
        public string Value;
    }
}
