package messaging

// Defaults are the shipped templates in English, French, Swahili and
// Portuguese. They keep to the GSM-7 alphabet (no ç, ê, ã, ó…), so a
// message of 160 characters costs one segment, not three.
var Defaults = Overrides{
	TemplatePaymentReceived: {
		"en": "Thank you {{name}}, {{amount}} received for {{account}}.{{#percent}} {{percent}} paid, balance {{balance}}.{{/percent}}{{#token}} Code: {{token}}.{{/token}}{{#expiry}} Credit until {{expiry}} ({{days}} days).{{/expiry}}",
		"fr": "Merci {{name}}, paiement de {{amount}} pour {{account}}.{{#percent}} {{percent}} payé, reste {{balance}}.{{/percent}}{{#token}} Code: {{token}}.{{/token}}{{#expiry}} Crédit jusqu'au {{expiry}} ({{days}} jours).{{/expiry}}",
		"sw": "Asante {{name}}, tumepokea {{amount}} kwa {{account}}.{{#percent}} Umelipa {{percent}}, salio {{balance}}.{{/percent}}{{#token}} Namba: {{token}}.{{/token}}{{#expiry}} Muda hadi {{expiry}} (siku {{days}}).{{/expiry}}",
		"pt": "Obrigado {{name}}, recebemos {{amount}} para {{account}}.{{#percent}} Pago {{percent}}, saldo {{balance}}.{{/percent}}{{#token}} Senha: {{token}}.{{/token}}{{#expiry}} Crédito até {{expiry}} ({{days}} dias).{{/expiry}}",
	},
	TemplateTokenIssued: {
		"en": "{{name}}, your code{{#account}} for {{account}}{{/account}}: {{token}}.{{#days}} It adds {{days}} days.{{/days}}",
		"fr": "{{name}}, votre code{{#account}} pour {{account}}{{/account}}: {{token}}.{{#days}} Il ajoute {{days}} jours.{{/days}}",
		"sw": "{{name}}, namba yako{{#account}} ya {{account}}{{/account}}: {{token}}.{{#days}} Inaongeza siku {{days}}.{{/days}}",
		"pt": "{{name}}, a sua senha{{#account}} para {{account}}{{/account}}: {{token}}.{{#days}} Adiciona {{days}} dias.{{/days}}",
	},
	TemplateReminder: {
		"en": "{{name}}, your payment of {{amount}} for {{account}} is due on {{due_date}}. Pay on time to keep your device on.",
		"fr": "{{name}}, votre paiement de {{amount}} pour {{account}} est attendu le {{due_date}}. Payez à temps pour garder l'accès.",
		"sw": "{{name}}, malipo yako ya {{amount}} kwa {{account}} yanatakiwa tarehe {{due_date}}. Lipa kwa wakati.",
		"pt": "{{name}}, o pagamento de {{amount}} para {{account}} vence em {{due_date}}. Pague a tempo.",
	},
	TemplateOverdue: {
		"en": "{{name}}, your payment for {{account}} was due on {{due_date}}, {{days_late}} days ago. Please pay {{amount}} to reactivate your device.",
		"fr": "{{name}}, le paiement pour {{account}} est en retard de {{days_late}} jours (échéance {{due_date}}). Payez {{amount}} pour réactiver votre appareil.",
		"sw": "{{name}}, malipo ya {{account}} yamechelewa siku {{days_late}} (tarehe {{due_date}}). Lipa {{amount}} ili kifaa kifanye kazi tena.",
		"pt": "{{name}}, o pagamento de {{account}} tem {{days_late}} dias de atraso (venceu em {{due_date}}). Pague {{amount}} para reativar o aparelho.",
	},
	TemplatePaidOff: {
		"en": "Congratulations {{name}}! {{account}} is fully paid ({{total_paid}}). The device is yours.",
		"fr": "Félicitations {{name}}! {{account}} est entièrement payé ({{total_paid}}). L'appareil est à vous.",
		"sw": "Hongera {{name}}! {{account}} imelipwa kikamilifu ({{total_paid}}). Kifaa ni chako.",
		"pt": "Parabéns {{name}}! {{account}} foi totalmente pago ({{total_paid}}). O aparelho é seu.",
	},
	TemplatePaymentUnmatched: {
		"en": "We received {{amount}} with reference {{reference}} but could not match it to an account.{{#support}} Please call {{support}}.{{/support}}",
		"fr": "Nous avons enregistré {{amount}} avec la référence {{reference}} sans trouver le compte.{{#support}} Appelez le {{support}}.{{/support}}",
		"sw": "Tumepokea {{amount}} yenye kumbukumbu {{reference}} lakini hatukupata akaunti.{{#support}} Piga {{support}}.{{/support}}",
		"pt": "Recebemos {{amount}} com a ref. {{reference}}, mas sem encontrar a conta.{{#support}} Ligue {{support}}.{{/support}}",
	},
}
