"""The contract's WSDL as a document, for every reader: `reading` reads one into a model, which the
others use; `compatibility` says which differences between two would break a v1 consumer (`ledger-service
contract check`, a CI tool); `reference` joins the model with what a WSDL cannot say (roles, what
operations do, what faults mean), for /docs and for `tables`, which writes docs/contract.md's tables."""
